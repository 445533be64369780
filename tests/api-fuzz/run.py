#!/usr/bin/env python3
"""Seva's API against its own OpenAPI document, fuzzed by schemathesis.

Starts `seva serve` (the binary in $SEVA_BIN) on a free port with a fresh data folder,
gives it one of each object the API names by id (so that calls reach past the 404), and
runs schemathesis over every operation with a fixed seed. It fails when any answer is a
server error, an undocumented status or media type, a body that breaks its own schema,
data the schema forbids that is accepted, a call without a token that is let through,
or a deleted object that is still there; and when the server logs a panic.

A call the schema allows must be accepted, too (`positive_data_acceptance`): the document
says what each field may hold (language tags, addresses, tags, bounds, words), so a
refusal of a schema-valid call means the two have drifted apart. Some rules cannot be
said in JSON Schema; the operations that have one may answer 422 to a schema-valid call,
and REFUSED_BEYOND_THE_SCHEMA says which and why. The sequences of calls leave this check
out: there a call meets objects in every state (a closed conversation, a used name).
The ids in paths are the seeded objects' for the calls one by one (a spare token is
the one `POST /api/v1/tokens/{id}/revoke` takes, so the fuzzer keeps its own).

Usage: SEVA_BIN=target/debug/seva python3 tests/api-fuzz/run.py [--max-examples N]
Requires schemathesis (tests/api-fuzz/requirements.txt) on PATH or beside this Python.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            sys.exit(f"seeding {method} {path} failed: {e.code} {e.read().decode()}")

    def post(self, path: str, body):
        return self.call("POST", path, body)


def wait_for(read, what: str):
    """What `read` lists, once it lists something (work the server does after answering)."""
    for _ in range(50):
        found = read()
        if found:
            return found
        time.sleep(0.1)
    sys.exit(f"seeding: {what} never appeared")


EMAIL = (
    "From: Eleni <eleni@example.com>\r\nTo: support@fuzz.test\r\nSubject: Τιμολόγιο\r\n"
    "Message-ID: <fuzz-1@example.com>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nΣας στέλνω το τιμολόγιο.\r\n"
    '--b\r\nContent-Type: text/plain; name="invoice.txt"\r\n'
    'Content-Disposition: attachment; filename="invoice.txt"\r\n\r\nΑρ. 42\r\n--b--\r\n'
)


def seed(api: Api, deliver) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """One of each object, and which id each path's parameters take; and for each kind of
    object a `DELETE` may remove, a second one for the `DELETE` (so that the other calls
    on the path still find theirs). `deliver` hands an email to the server as a mail
    transport would."""
    team = api.post("/api/v1/teams", {"name": "Τιμολόγηση"})
    agent = api.post(
        "/api/v1/agents",
        {"email": "ravi@example.com", "name": "రవి", "role": "agent"},
    )["agent"]
    api.post(f"/api/v1/teams/{team['id']}/members", {"agent_id": agent["id"]})
    org = api.post("/api/v1/organizations", {"name": "Acme", "domain": "acme.example"})
    conv = api.post(
        "/api/v1/conversations",
        {
            "contact": {"email": "maria@acme.example", "name": "Maria Santos"},
            "subject": "Nasira ang charger",
            "text": "Hindi gumagana ang charger na binili ko.",
        },
    )
    api.post(f"/api/v1/conversations/{conv['id']}/messages", {"text": "Σας ευχαριστούμε.", "kind": "note"})
    messages = api.call("GET", f"/api/v1/conversations/{conv['id']}/messages")
    # A second customer for the contact calls: erasing them leaves Maria's conversation.
    other = api.post(
        "/api/v1/conversations",
        {"contact": {"email": "sita@example.com", "name": "సీత"}, "subject": "ఆర్డర్", "text": "నా ఆర్డర్ ఎక్కడ?"},
    )
    other_contact = api.call("GET", f"/api/v1/conversations/{other['id']}")["contact_id"]
    article = api.post(
        "/api/v1/articles",
        {"lang": "en", "title": "Refunds", "status": "published", "body": "A refund takes five days."},
    )
    api.call("PUT", f"/api/v1/articles/{article['id']}", {"lang": "en", "title": "Refunds", "status": "published", "body": "A refund takes five working days."})
    macro = api.post("/api/v1/macros", {"name": "Thanks", "text": "Salamat, {{customer.first_name}}!"})
    rule = api.post(
        "/api/v1/rules",
        {
            "name": "Breakdowns first",
            "trigger": "conversation.created",
            "conditions": [{"field": "text", "op": "contains_any", "value": ["χάλασε"]}],
            "actions": [{"type": "set_priority", "value": "urgent"}],
        },
    )
    view = api.post("/api/v1/views", {"name": "Urgent", "filters": {"priorities": ["urgent"]}})
    webhook = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    field = api.post("/api/v1/custom_fields", {"key": "order", "label": "Order", "kind": "text"})
    inbox = api.post("/api/v1/inboxes", {"name": "forms", "channel": "web_form"})
    # An email with a file: a message with an original, and an attachment.
    email_inbox = api.post("/api/v1/inboxes", {"name": "support", "channel": "email", "address": "support@fuzz.test"})
    deliver(email_inbox["name"], EMAIL)
    emailed = api.call("GET", f"/api/v1/conversations?inbox={email_inbox['id']}")["data"][0]
    email = api.call("GET", f"/api/v1/conversations/{emailed['id']}/messages")[0]
    spare = api.post("/api/v1/tokens", {"agent_id": agent["id"], "name": "spare"})
    # A follow-up task and a notification of the fuzzer's own: the admin owns Maria's
    # conversation, follows it, and transfers it to the team, which marks its part done;
    # the agent (by the spare token, before it is revoked) writes in it.
    me = api.call("GET", "/api/v1/me")
    api.post(f"/api/v1/conversations/{conv['id']}/assign", {"owner_id": me["id"]})
    api.post(f"/api/v1/conversations/{conv['id']}/followers", {"agent_id": me["id"], "follow": True})
    api.post(f"/api/v1/conversations/{conv['id']}/transfers", {"team_id": team["id"], "note": "Για το τιμολόγιο."})
    Api(api.base, spare["secret"]).post(
        f"/api/v1/conversations/{conv['id']}/messages", {"text": "చూస్తున్నాను.", "kind": "note"}
    )
    task = api.post(f"/api/v1/conversations/{conv['id']}/transfers/done", {"note": "Έγινε."})
    notifications = wait_for(lambda: api.call("GET", "/api/v1/notifications"), "a notification")
    jobs = wait_for(lambda: api.call("GET", "/api/v1/jobs"), "a job (the webhook's delivery)")
    spare_conversation = api.post(
        "/api/v1/conversations",
        {"contact": {"email": "juan@example.com", "name": "Juan"}, "subject": "Order", "text": "Where is it?"},
    )
    to_delete = {
        "/api/v1/contacts/": api.call("GET", f"/api/v1/conversations/{spare_conversation['id']}")["contact_id"],
        "/api/v1/organizations/": api.post("/api/v1/organizations", {"name": "Globex"})["id"],
        "/api/v1/articles/": api.post("/api/v1/articles", {"lang": "el", "title": "Επιστροφές", "body": "Πέντε μέρες."})["id"],
        "/api/v1/macros/": api.post("/api/v1/macros", {"name": "Bye", "text": "Paalam!"})["id"],
        "/api/v1/rules/": api.post(
            "/api/v1/rules",
            {"name": "Spare", "trigger": "conversation.created", "conditions": [], "actions": [{"type": "set_priority", "value": "low"}]},
        )["id"],
        "/api/v1/views/": api.post("/api/v1/views", {"name": "Spare", "filters": {}})["id"],
        "/api/v1/webhooks/": api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/spare", "events": ["*"]})["id"],
    }
    return {
        "/api/v1/agents/": {"id": agent["id"]},
        "/api/v1/articles/": {"id": article["id"]},
        "/api/v1/contacts/": {"id": other_contact},
        "/api/v1/conversations/": {"id": conv["id"], "macro_id": macro["id"]},
        "/api/v1/custom_fields/": {"id": field["id"]},
        "/api/v1/inboxes/": {"id": inbox["id"]},
        "/api/v1/macros/": {"id": macro["id"]},
        "/api/v1/messages/.+/redact": {"id": messages[0]["id"]},
        "/api/v1/messages/.+/original": {"id": email["id"]},
        "/api/v1/attachments/": {"id": email["attachments"][0]["id"]},
        "/api/v1/organizations/": {"id": org["id"]},
        "/api/v1/rules/": {"id": rule["id"]},
        "/api/v1/teams/": {"id": team["id"], "agent_id": agent["id"]},
        "/api/v1/tokens/": {"id": spare["id"]},
        "/api/v1/views/": {"id": view["id"]},
        "/api/v1/webhooks/": {"id": webhook["id"]},
        "/api/v1/tasks/": {"id": task["id"]},
        "/api/v1/notifications/": {"id": notifications[0]["id"]},
        "/api/v1/jobs/": {"id": jobs[0]["id"]},
    }, to_delete


# Operations whose schema-valid calls may still be refused (422), and the rule that does it.
REFUSED_BEYOND_THE_SCHEMA = {
    "GET /api/v1/conversations": "a cursor is one the API gave out",
    "POST /api/v1/contacts": "an email address or a phone number, at least one",
    "PATCH /api/v1/contacts/{id}": "the organization's id names one",
    "POST /api/v1/conversations": "the customer's email or phone; ids that name objects; keys",
    "POST /api/v1/contacts/{id}/identities": "the value is of the kind named",
    "POST /api/v1/contacts/{id}/identities/remove": "the value is of the kind named",
    "POST /api/v1/inboxes": "settings and an address depend on the channel",
    "PATCH /api/v1/inboxes/{id}": "settings and an address depend on the channel",
    "POST /api/v1/calendars": "a known time zone; openings that do not overlap",
    "POST /api/v1/sla_policies": "one target at least; ids that name objects",
    "PUT /api/v1/teams/{id}/routing": "the calendar's id names one",
    "PUT /api/v1/agents/{id}/routing": "a skill is a tag (of any script: no pattern says it)",
    "POST /api/v1/articles": "ids that name a category and an article; a slug of any script",
    "PUT /api/v1/articles/{id}": "the category's id names one; a slug of any script",
    "POST /api/v1/conversations/bulk": "the ids name conversations",
    "POST /api/v1/conversations/{id}/assign": "the ids name an agent and a team",
    "POST /api/v1/conversations/{id}/merge": "the id names a conversation",
    "POST /api/v1/conversations/{id}/split": "the id names a message of this conversation",
    "POST /api/v1/conversations/{id}/transfers": "another team than the conversation's",
    "POST /api/v1/conversations/{id}/status": "the transitions a status allows",
    "POST /api/v1/conversations/{id}/messages": "an Idempotency-Key names one request",
    "POST /api/v1/conversations/{id}/snooze": "a time in the future",
    "POST /api/v1/conversations/{id}/copy": "only an email conversation has people in copy",
    "POST /api/v1/conversations/{id}/fields": "the custom fields defined for its team",
    "POST /api/v1/conversations/{id}/tags": "a tag of any script (no pattern says it)",
    "POST /api/v1/conversations/{id}/followers": "the id names an agent",
    "POST /api/v1/tokens": "the id names an agent",
    "POST /api/v1/teams/{id}/members": "the id names an agent",
    "POST /api/v1/knowledge/categories": "a slug of any script (no pattern says it)",
    "POST /api/v1/custom_fields": "a select has options, other kinds none",
    "POST /api/v1/macros": "a reply or actions; the actions' language",
    "PUT /api/v1/macros/{id}": "a reply or actions; the actions' language",
    "POST /api/v1/rules": "the rules' language",
    "PUT /api/v1/rules/{id}": "the rules' language",
    "POST /api/v1/rules/dry-run": "the rules' language",
}


def config(seeded: tuple[dict[str, dict[str, str]], dict[str, str]]) -> str:
    ids, to_delete = seeded
    out = []
    for name in REFUSED_BEYOND_THE_SCHEMA:
        out.append(
            f'[[operations]]\ninclude-name = "{name}"\n'
            '[operations.checks.positive_data_acceptance]\n'
            'expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]\n'
        )
    for prefix, params in ids.items():
        values = ", ".join(f'"path.{k}" = "{v}"' for k, v in params.items())
        method = 'exclude-method = "DELETE"\n' if prefix in to_delete else ""
        out.append(f'[[operations]]\ninclude-path-regex = "^{prefix}"\n{method}parameters = {{ {values} }}\n')
    for prefix, id in to_delete.items():
        out.append(
            f'[[operations]]\ninclude-path-regex = "^{prefix}"\ninclude-method = "DELETE"\n'
            f'parameters = {{ "path.id" = "{id}" }}\n'
        )
    return "\n".join(out)


class Server:
    """`seva serve` on a free port with a fresh data folder under `work`, and a token."""

    def __init__(self, bin_path: str, work: Path):
        self.bin, self.work = bin_path, work
        work.mkdir()
        data, port = work / "data", free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(work / "serve.log", "wb")
        self.process = subprocess.Popen(
            [bin_path, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}", "--smtp-listen", "off"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(150):
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            sys.exit("seva serve did not become ready")
        self.token = subprocess.run(
            [bin_path, "token", "create", "--user", "admin@seva.local", "--name", "fuzz", "--data", str(data)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def deliver(self, inbox: str, message: str) -> None:
        """`seva mail deliver`, as a local MTA runs it: done once it exits 0."""
        subprocess.run(
            [self.bin, "mail", "deliver", "--inbox", inbox, "--data", str(self.work / "data")],
            input=message.encode(),
            check=True,
            capture_output=True,
        )

    def stop(self) -> str:
        """Stops the server (as an operator would, SIGTERM) and returns what it logged."""
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        return (self.work / "serve.log").read_text(errors="replace")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-examples", type=int, default=25)
    ap.add_argument("--seed", type=int, default=20261204)
    args = ap.parse_args()
    bin_path = os.environ.get("SEVA_BIN")
    if not bin_path or not os.access(bin_path, os.X_OK):
        sys.exit("set SEVA_BIN to a built seva binary (cargo build -p seva)")
    here = Path(sys.executable).parent
    st = shutil.which("schemathesis") or str(here / "schemathesis")
    if not os.access(st, os.X_OK):
        sys.exit("schemathesis is missing: pip install -r tests/api-fuzz/requirements.txt")

    work = Path(tempfile.mkdtemp(prefix="seva-fuzz-"))
    # Each operation on its own, with the seeded objects' ids in its path; then, on a
    # server of its own (the first run deleted some of what it was given), sequences of
    # calls (create, read, change, delete) that follow the ids the answers give.
    runs = [
        ("operations", ["--phases", "examples,coverage,fuzzing"], True),
        ("sequences", ["--phases", "stateful", "--exclude-checks", "positive_data_acceptance"], False),
    ]
    for name, phases, seeded in runs:
        server = Server(bin_path, work / name)
        try:
            cmd = [st]
            if seeded:
                config_file = work / name / "schemathesis.toml"
                config_file.write_text(config(seed(Api(server.base, server.token), server.deliver)))
                cmd += ["--config-file", str(config_file)]
            cmd += [
                "run", server.base + "/api/openapi.json",
                "--header", f"Authorization: Bearer {server.token}",
                "--checks", "all",
                "--max-examples", str(args.max_examples), "--seed", str(args.seed),
                "--workers", "1", "--no-color", *phases,
            ]
            code = subprocess.run(cmd, cwd=work / name).returncode
        finally:
            served = server.stop()
        if "panicked" in served:
            print(served[-4000:])
            print(f"the server panicked (above; {name})")
            return 1
        if code != 0:
            print(f"schemathesis found failures ({name}); the server's log is {server.work / 'serve.log'}")
            return code
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
