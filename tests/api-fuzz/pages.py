#!/usr/bin/env python3
"""The desk's and the help center's pages, given nonsense as a person or a script could
send it.

The API has its OpenAPI document to be fuzzed against (run.py); the pages have none. This
reads the page routes from the UI's router (crates/seva-server/src/ui/mod.rs), logs in as
an admin, and sends every route, with the seeded objects' ids and with ids that are none,
a series of bad inputs: no body, only the CSRF token, every usual field name set to
nonsense (too long, control characters, not a number, negative, HTML, invalid UTF-8),
a wrong CSRF token, multipart and JSON where a form is expected, and query strings of
the same. It fails when any answer is a server error (5xx) or no answer at all, and
when the server logs a panic. What a page refuses it must refuse with a 4xx, a page or a
redirect: which one is each page's own test's business.

Usage: SEVA_BIN=target/debug/seva python3 tests/api-fuzz/pages.py
Only the standard library.
"""

import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402  (the API fuzz's server and seeding)

ROUTER = Path(__file__).parents[2] / "crates/seva-server/src/ui/mod.rs"
PASSWORD = "a long enough password for the page fuzz"
# Logging out would end the run's session, and the live stream never ends; the rest may
# do what it likes.
LEFT_OUT = {"/logout", "/live"}
FIELDS = [
    "text", "kind", "owner", "owner_id", "team", "team_id", "status", "priority", "tags",
    "tag", "name", "email", "subject", "message", "value", "days", "until", "note", "macro",
    "macro_id", "into", "ids", "id", "action", "role", "password", "new_password", "current",
    "language", "key", "label", "choices", "body", "title", "lang", "slug", "visibility",
    "category", "category_id", "helpful", "comment", "phone", "domain", "minutes", "hours",
    "timezone", "filters", "signature", "capacity", "strategy", "code", "address", "channel",
    "settings", "secrets", "before", "after", "limit", "q", "sort", "cursor", "area", "actor",
    "follow", "spam", "conversation", "contact", "agent", "field", "fields", "starts_at",
    "ends_at", "reason", "url", "events", "inbox", "inbox_id", "confirm", "available",
]
NONSENSE = [
    "",
    "x" * 3_000,
    "\x00\x01\x1b[31m\u202e",
    "-1",
    "99999999999999999999999",
    "<script>alert(1)</script>",
    "[]",
    "ΣΊΣΥΦΟΣ సీత Ñ ﷽ 👩🏽‍💻",
]


class Browser:
    """A logged-in admin's cookie jar, with the page's CSRF token."""

    def __init__(self, server, email: str):
        self.base, self.email = server.base, email
        self.log_in()

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Cookie", self.cookie)
        if content_type:
            req.add_header("Content-Type", content_type)
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=60) as res:
                return res.status, res.headers, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def log_in(self) -> None:
        self.cookie = ""
        _, headers, html = self.request("GET", "/login")
        self.cookie = headers["Set-Cookie"].split(";")[0]
        csrf = re.search(rb'name="csrf" value="([^"]+)"', html).group(1).decode()
        form = urllib.parse.urlencode({"csrf": csrf, "email": self.email, "password": PASSWORD})
        status, headers, _ = self.request("POST", "/login", form.encode(), "application/x-www-form-urlencoded")
        if status != 303 or "seva_session=" not in (headers["Set-Cookie"] or ""):
            sys.exit(f"the page fuzz could not log in: {status}")
        self.cookie = headers["Set-Cookie"].split(";")[0]
        status, _, html = self.request("GET", "/inbox")
        if status != 200:
            sys.exit(f"the page fuzz's admin cannot see the inbox: {status}")
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', html).group(1).decode()

    def still_in(self) -> None:
        if self.request("GET", "/inbox")[0] != 200:
            self.log_in()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def routes() -> list[tuple[str, list[str]]]:
    """(path, methods) of every `.route(…)` in the UI's router."""
    source = ROUTER.read_text()
    found = []
    for part in source.split(".route(")[1:]:
        part = part.split(".layer(")[0]
        path = re.match(r'\s*"([^"]+)"', part)
        if not path:
            continue
        methods = [m.upper() for m in ("get", "post") if re.search(rf"\b{m}\(", part)]
        found.append((path.group(1), methods))
    if len(found) < 80:
        sys.exit(f"found only {len(found)} routes in {ROUTER}: has the router changed shape?")
    return found


def fill(path: str, ids: dict[str, str]) -> list[str]:
    """The path with the seeded objects' ids, and with ids that are none."""
    def known(name: str) -> str:
        for prefix, value in ids.items():
            if path.startswith(prefix):
                return value
        return str(uuid.uuid4())

    real = re.sub(r"\{id\}", lambda _: known("id"), path)
    real = real.replace("{lang}", "en").replace("{slug}", "refunds").replace("{n}", "1")
    real = real.replace("{action}", "disable").replace("{key}", "nokey")
    paths = [real]
    if "{" in path:
        for none in ["nonsense", str(uuid.uuid4()), "%FF%00", "-1"]:
            paths.append(re.sub(r"\{[a-z]+\}", none, path))
    return paths


def bodies(csrf: str) -> list[tuple[bytes, str]]:
    form = "application/x-www-form-urlencoded"
    out = [(b"", form), (urllib.parse.urlencode({"csrf": csrf}).encode(), form)]
    for value in NONSENSE:
        fields = {name: value for name in FIELDS}
        out.append((urllib.parse.urlencode({"csrf": csrf, **fields}).encode(), form))
    out.append((f"csrf={csrf}&text=%FF%FE&name=%C3&subject=%ED%A0%80".encode(), form))
    long = "y" * 300_000
    out.append((urllib.parse.urlencode({"csrf": csrf, "text": long, "name": long, "body": long}).encode(), form))
    out.append((urllib.parse.urlencode({"csrf": "wrong", "text": "x"}).encode(), form))
    out.append((f"csrf={csrf}&csrf={csrf}&status=open&status=closed&tags=a&tags=b".encode(), form))
    boundary = "fuzzboundary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in [("csrf", csrf), *[(f, "\u0000Ω") for f in FIELDS[:20]]]
    )
    out.append((f"{parts}--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"))
    out.append((b"--broken\r\n", "multipart/form-data; boundary=other"))
    out.append((b'{"csrf": "x", "text": [1, 2]}', "application/json"))
    return out


QUERIES = [
    "",
    "?" + urllib.parse.urlencode({name: "x" * 100 for name in FIELDS}),
    "?q=%FF%FE&before=x&limit=-1&status=zzz&cursor=%00%01&sort=nope&lang=xx&page=99999999999999999999",
    "?status=open&status=closed&q=a&q=b",
]


def main() -> int:
    bin_path = os.environ.get("SEVA_BIN")
    if not bin_path or not os.access(bin_path, os.X_OK):
        sys.exit("set SEVA_BIN to a built seva binary (cargo build -p seva)")
    work = Path(tempfile.mkdtemp(prefix="seva-pages-"))
    server = run.Server(bin_path, work / "pages")
    failures, sent, statuses = [], 0, {}
    try:
        api = run.Api(server.base, server.token)
        seeded, _ = run.seed(api, server.deliver)
        email = "fuzz-admin@example.com"
        subprocess.run(
            [bin_path, "user", "add", email, "--name", "Fuzz", "--role", "admin", "--password-stdin",
             "--data", str(server.work / "data")],
            input=PASSWORD.encode(), check=True, capture_output=True,
        )
        browser = Browser(server, email)
        ids = page_ids(api, seeded)
        for template, methods in routes():
            if template in LEFT_OUT:
                continue
            for path in fill(template, ids):
                for method in methods:
                    tries = [(q, None, None) for q in QUERIES] if method == "GET" else [
                        ("", body, kind) for body, kind in bodies(browser.csrf)
                    ]
                    for query, body, kind in tries:
                        sent += 1
                        try:
                            status, _, _ = browser.request(method, path + query, body, kind)
                        except OSError as e:
                            status = f"no answer ({e})"
                        statuses[status] = statuses.get(status, 0) + 1
                        if not isinstance(status, int) or status >= 500:
                            failures.append(f"{method} {path}{query[:60]} ({kind}): {status}")
                            print("FAILED", failures[-1], flush=True)
                browser.still_in()
    finally:
        served = server.stop()
    print(f"{sent} requests to the pages; answers by status: {dict(sorted(statuses.items(), key=str))}")
    # A run that never got past the login or the CSRF check tried nothing.
    passed = sum(n for status, n in statuses.items() if isinstance(status, int) and status < 400)
    if passed < 100:
        failures.append(f"only {passed} of {sent} requests got past the session and its CSRF token")
    if "panicked" in served:
        print(served[-4000:])
        failures.append("the server panicked (above)")
    if failures:
        print(f"{len(failures)} failures; the server's log is {server.work / 'serve.log'}")
        return 1
    return 0


def page_ids(api, seeded: dict[str, dict[str, str]]) -> dict[str, str]:
    """Which id each page path takes, from the API's seeded objects (longest prefix first)."""
    by_api = {prefix: params["id"] for prefix, params in seeded.items() if "id" in params}
    ids = {
        "/conversations/": by_api["/api/v1/conversations/"],
        "/tasks/": by_api["/api/v1/tasks/"],
        "/notifications/": by_api["/api/v1/notifications/"],
        "/views/": by_api["/api/v1/views/"],
        "/rules/": by_api["/api/v1/rules/"],
        "/organizations/": by_api["/api/v1/organizations/"],
        "/settings/macros/": by_api["/api/v1/macros/"],
        "/settings/people/agents/": by_api["/api/v1/agents/"],
        "/settings/people/tokens/": by_api["/api/v1/tokens/"],
        "/settings/people/teams/": by_api["/api/v1/teams/"],
        "/settings/service/routing/": by_api["/api/v1/teams/"],
        "/settings/service/fields/": by_api["/api/v1/custom_fields/"],
        "/settings/inboxes/": by_api["/api/v1/inboxes/"],
        "/messages/": by_api["/api/v1/messages/.+/original"],
        "/contacts/": by_api["/api/v1/contacts/"],
        "/kb/": by_api["/api/v1/articles/"],
    }
    return dict(sorted(ids.items(), key=lambda kv: -len(kv[0])))


if __name__ == "__main__":
    sys.exit(main())
