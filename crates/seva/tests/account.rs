//! An agent's own account, through the real server's pages as a browser uses them: two-step
//! verification (turned on with an authenticator app's code, asked for at every login,
//! each code good once, recovery codes, turned off by an admin for a lost phone), a
//! password change that needs the current password, and the list of where one is logged in.

mod common;

use common::{Seva, attribute_after, login_page, read};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

const PASSWORD: &str = "ravi's long password";

/// The six-digit code an authenticator app shows for `key` (base32) at `unix` seconds
/// (RFC 6238, HMAC-SHA1, 30-second steps), computed here on the test's own.
fn totp(key: &str, unix: i64) -> String {
    let mut bits = 0u64;
    let mut count = 0;
    let mut bytes = Vec::new();
    for c in key.bytes().filter(|c| *c != b' ') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {key}"),
        };
        bits = (bits << 5) | v as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&bytes).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let v = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{v:06}")
}

/// The authenticator key a setup page shows, without its spaces.
fn key_in(html: &str) -> String {
    let after = html
        .split("id=\"two-step-key\">")
        .nth(1)
        .expect("a setup page");
    after.split('<').next().unwrap().replace(' ', "")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A browser's cookies, as `Cookie` header text.
#[derive(Default)]
struct Jar(Vec<String>);

impl Jar {
    fn keep<B>(&mut self, res: &ureq::http::Response<B>) {
        for v in res.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_string();
            let name = pair.split('=').next().unwrap().to_string();
            self.0.retain(|c| !c.starts_with(&format!("{name}=")));
            if !pair.ends_with('=') {
                self.0.push(pair);
            }
        }
    }
    fn header(&self) -> String {
        self.0.join("; ")
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.starts_with(&format!("{name}=")))
    }
}

/// Sends the login form; returns the answer's status and where it leads.
fn log_in(seva: &Seva, jar: &mut Jar, password: &str) -> (u16, String) {
    log_in_from(seva, jar, password, "ureq")
}

/// [`log_in`] from a browser that names itself `user_agent`.
fn log_in_from(seva: &Seva, jar: &mut Jar, password: &str, user_agent: &str) -> (u16, String) {
    let agent = Seva::agent();
    let (cookie, csrf) = login_page(seva, &agent);
    jar.0.retain(|c| !c.starts_with("seva_login="));
    jar.0.push(cookie);
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", jar.header())
        .header("User-Agent", user_agent)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", "ravi@example.com"),
            ("password", password),
        ])
        .unwrap();
    jar.keep(&res);
    (res.status().as_u16(), location(&res))
}

/// Where an answer leads (empty when it leads nowhere).
fn location<B>(res: &ureq::http::Response<B>) -> String {
    res.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Sends a code on the login's second step; returns the status, where it leads, the page.
fn send_code(seva: &Seva, jar: &mut Jar, code: &str) -> (u16, String, String) {
    let agent = Seva::agent();
    let mut page = agent
        .get(&seva.url("/login/code"))
        .header("Cookie", jar.header())
        .call()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.body_mut().read_to_string().unwrap();
    let csrf = attribute_after(&html, "name=\"csrf\" value=\"");
    let mut res = agent
        .post(&seva.url("/login/code"))
        .header("Cookie", jar.header())
        .send_form([("csrf", csrf.as_str()), ("code", code)])
        .unwrap();
    jar.keep(&res);
    let to = location(&res);
    let body = res.body_mut().read_to_string().unwrap_or_default();
    (res.status().as_u16(), to, body)
}

/// A page of the desk: status, body, and the form's CSRF token if it has one.
fn page(seva: &Seva, jar: &Jar, path: &str) -> (u16, String, String) {
    let mut res = Seva::agent()
        .get(&seva.url(path))
        .header("Cookie", jar.header())
        .call()
        .unwrap();
    let status = res.status().as_u16();
    let html = res.body_mut().read_to_string().unwrap_or_default();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    (status, html, csrf)
}

/// Posts a form of the desk: status, the `Cache-Control` header, the body.
fn post(seva: &Seva, jar: &Jar, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let mut res = Seva::agent()
        .post(&seva.url(path))
        .header("Cookie", jar.header())
        .send_form(form.iter().copied())
        .unwrap();
    let cache = res
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.body_mut().read_to_string().unwrap_or_default();
    (res.status().as_u16(), cache, body)
}

#[test]
fn two_step_verification_asks_for_a_code_after_the_password_and_each_code_works_once() {
    // The real clock (the codes are made from it) until the end, when it jumps ahead.
    let seva = Seva::start_with("test_clock = true\n");
    seva.user("ravi@example.com", "agent", PASSWORD);
    let ravi_id = common::agent_id(&seva, "ravi@example.com");
    let mut jar = Jar::default();
    assert_eq!(log_in(&seva, &mut jar, PASSWORD), (303, "/inbox".into()));
    let (_, settings, _) = page(&seva, &jar, "/settings");
    assert!(
        settings.contains("Two-step verification is off"),
        "{settings}"
    );

    // Set up: a key for the app, shown on a page nobody caches, with its QR code.
    let (status, html, csrf) = page(&seva, &jar, "/me/two-step");
    assert_eq!(status, 200);
    let (status, cache, html2) = post(&seva, &jar, "/me/two-step/start", &[("csrf", &csrf)]);
    assert_eq!((status, cache.as_str()), (200, "no-store"), "{html}");
    assert!(html2.contains("<svg"));
    let key = key_in(&html2);
    assert_eq!(key.len(), 32);
    // Nothing is asked for until the app has given a right code.
    let mut other = Jar::default();
    assert_eq!(log_in(&seva, &mut other, PASSWORD), (303, "/inbox".into()));

    let code = totp(&key, now());
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (status, _, refused) = post(
        &seva,
        &jar,
        "/me/two-step/on",
        &[("csrf", &csrf), ("code", &wrong)],
    );
    assert_eq!(status, 422);
    assert!(
        refused.contains("not right") && refused.contains(&key[..4]),
        "the key is shown again"
    );
    let (status, cache, on) = post(
        &seva,
        &jar,
        "/me/two-step/on",
        &[("csrf", &csrf), ("code", &code)],
    );
    assert_eq!((status, cache.as_str()), (200, "no-store"), "{on}");
    let codes: Vec<String> = on
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{on}");
    let (_, agents) = seva.api("GET", "/api/v1/agents", None);
    let ravi = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "ravi@example.com")
        .unwrap();
    assert_eq!(ravi["two_step"], true);

    // The password alone now leads to the code's form, and to no session.
    let mut jar = Jar::default();
    assert_eq!(
        log_in(&seva, &mut jar, PASSWORD),
        (303, "/login/code".into())
    );
    assert!(
        jar.has("seva_step") && !jar.has("seva_session"),
        "{:?}",
        jar.0
    );
    assert_eq!(page(&seva, &jar, "/inbox").0, 303);
    // The code that turned it on was used: it is refused, as is a wrong one.
    let (status, _, body) = send_code(&seva, &mut jar, &code);
    assert_eq!(status, 401, "a code is good once: {body}");
    assert_eq!(send_code(&seva, &mut jar, &wrong).0, 401);
    // The next step's code (the phone's clock may run a little ahead) logs in.
    let next = totp(&key, now() + 30);
    let (status, to, _) = send_code(&seva, &mut jar, &next);
    assert_eq!((status, to.as_str()), (303, "/inbox"));
    assert!(
        jar.has("seva_session") && !jar.has("seva_step"),
        "{:?}",
        jar.0
    );
    assert_eq!(page(&seva, &jar, "/inbox").0, 200);
    // Without the password's cookie, or with a forged one, there is no code's form.
    let mut forged = Jar(vec![format!("seva_step={ravi_id}.9999999999.00")]);
    assert_eq!(send_code_status_without_form(&seva, &mut forged), 303);

    // A recovery code, typed in capitals with a space, works once.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let mut phone_lost = Jar::default();
    assert_eq!(log_in(&seva, &mut phone_lost, PASSWORD).1, "/login/code");
    assert_eq!(send_code(&seva, &mut phone_lost, &typed).1, "/inbox");
    let mut again = Jar::default();
    log_in(&seva, &mut again, PASSWORD);
    assert_eq!(send_code(&seva, &mut again, &codes[0]).0, 401);
    let (_, two_step, _) = page(&seva, &jar, "/me/two-step");
    assert!(two_step.contains("9 recovery codes left"), "{two_step}");

    // Only an admin turns it off for someone else, and not for themselves.
    let path = format!("/api/v1/agents/{ravi_id}/two-step");
    let ravi_token = seva.cli(&["token", "create", "--user", "ravi@example.com"]);
    assert_eq!(seva.api_as(ravi_token.trim(), "DELETE", &path, None).0, 403);
    let (_, me) = seva.api("GET", "/api/v1/me", None);
    let own = format!("/api/v1/agents/{}/two-step", me["id"].as_str().unwrap());
    let (status, problem) = seva.api("DELETE", &own, None);
    assert_eq!((status, problem["field"].as_str()), (422, Some("id")));

    // Wrong codes count as failed logins (three so far): by the tenth the account waits,
    // and then even a right code is not tried.
    let mut guesser = Jar::default();
    log_in(&seva, &mut guesser, PASSWORD);
    let statuses: Vec<u16> = (0..8)
        .map(|i| send_code(&seva, &mut guesser, &format!("{:06}", 100_000 + i)).0)
        .collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let right = totp(&key, now() + 60);
    assert_eq!(send_code(&seva, &mut guesser, &right).0, 429);

    // An hour on, an admin turns it off for Ravi (a lost phone): his password alone logs
    // him in again.
    seva.set_now("2099-01-01T00:00:00Z");
    let (status, ravi) = seva.api("DELETE", &path, None);
    assert_eq!((status, &ravi["two_step"]), (200, &json!(false)));
    let mut plain = Jar::default();
    assert_eq!(log_in(&seva, &mut plain, PASSWORD), (303, "/inbox".into()));
    let (_, feed) = seva.api("GET", "/api/v1/audit?area=agent", None);
    let kinds: Vec<_> = feed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["agent_id"] == ravi_id.as_str())
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    // The command line does the same, for an admin locked out of their own account.
    seva.cli(&["user", "two-step-off", "ravi@example.com"]);
    let (_, feed) = seva.api("GET", "/api/v1/audit?area=agent", None);
    let last = feed["data"][0].clone();
    assert_eq!(
        (last["kind"].as_str(), last["actor"].as_str()),
        (Some("agent.two_step_off"), Some("system"))
    );
    let admin_actor = format!("agent:{}", me["id"].as_str().unwrap());
    let ravi_actor = format!("agent:{ravi_id}");
    assert!(
        kinds.contains(&("agent.two_step_on", ravi_actor.as_str())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("agent.two_step_off", admin_actor.as_str())),
        "{kinds:?}"
    );
}

/// Posts to the code's form with whatever cookies the jar has and no form of ours loaded:
/// the status.
fn send_code_status_without_form(seva: &Seva, jar: &mut Jar) -> u16 {
    let agent = Seva::agent();
    let (cookie, csrf) = login_page(seva, &agent);
    jar.0.push(cookie);
    let res = agent
        .post(&seva.url("/login/code"))
        .header("Cookie", jar.header())
        .send_form([("csrf", csrf.as_str()), ("code", "123456")])
        .unwrap();
    let (status, _) = read(res);
    status
}

#[test]
fn a_password_is_changed_only_with_the_current_one_and_other_sessions_end() {
    let seva = Seva::start();
    seva.user("ravi@example.com", "agent", PASSWORD);
    let mut laptop = Jar::default();
    let mut phone = Jar::default();
    log_in(&seva, &mut laptop, PASSWORD);
    log_in(&seva, &mut phone, PASSWORD);
    let (status, html, csrf) = page(&seva, &laptop, "/me/password");
    assert_eq!(status, 200);
    assert!(html.contains("name=\"current\""), "{html}");

    let (status, _, body) = post(
        &seva,
        &laptop,
        "/me/password",
        &[
            ("csrf", &csrf),
            ("current", "not it at all"),
            ("password", "a brand new password"),
            ("again", "a brand new password"),
        ],
    );
    assert_eq!(status, 422);
    assert!(body.contains("not your current password"), "{body}");
    let mut check = Jar::default();
    assert_eq!(log_in(&seva, &mut check, PASSWORD).1, "/inbox", "unchanged");

    let (status, _, _) = post(
        &seva,
        &laptop,
        "/me/password",
        &[
            ("csrf", &csrf),
            ("current", PASSWORD),
            ("password", "a brand new password"),
            ("again", "a brand new password"),
        ],
    );
    assert_eq!(status, 303);
    assert_eq!(
        page(&seva, &laptop, "/inbox").0,
        200,
        "this browser stays logged in"
    );
    assert_eq!(
        page(&seva, &phone, "/inbox").0,
        303,
        "the others are logged out"
    );
    let mut fresh = Jar::default();
    assert_eq!(log_in(&seva, &mut fresh, PASSWORD).0, 401);
    assert_eq!(
        log_in(&seva, &mut fresh, "a brand new password").1,
        "/inbox"
    );

    // Guessing the current password is a failed login like any other: after ten, even
    // the right one waits.
    for _ in 0..10 {
        post(
            &seva,
            &laptop,
            "/me/password",
            &[
                ("csrf", &csrf),
                ("current", "a guess"),
                ("password", "mallory's password"),
                ("again", "mallory's password"),
            ],
        );
    }
    let (status, _, _) = post(
        &seva,
        &laptop,
        "/me/password",
        &[
            ("csrf", &csrf),
            ("current", "a brand new password"),
            ("password", "another new password"),
            ("again", "another new password"),
        ],
    );
    assert_eq!(status, 429);
}

#[test]
fn an_agent_sees_where_they_are_logged_in_and_logs_out_everywhere_else() {
    let seva = Seva::start();
    seva.user("ravi@example.com", "agent", PASSWORD);
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
    let android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";
    log_in_from(&seva, &mut laptop, PASSWORD, firefox);
    log_in_from(&seva, &mut phone, PASSWORD, android);
    let (_, html, csrf) = page(&seva, &laptop, "/settings");
    let list = sessions_list(&html);
    let lines: Vec<&str> = list.split("<li>").skip(1).collect();
    assert_eq!(lines.len(), 2, "{list}");
    let mine = lines
        .iter()
        .find(|l| l.contains("Firefox · Linux"))
        .expect(list);
    assert!(
        mine.contains("this browser") && mine.contains("127.0.0.1"),
        "{mine}"
    );
    let other = lines
        .iter()
        .find(|l| l.contains("Chrome · Android"))
        .expect(list);
    assert!(!other.contains("this browser"), "{other}");

    let (status, _, _) = post(&seva, &laptop, "/me/sessions/others", &[("csrf", &csrf)]);
    assert_eq!(status, 303);
    assert_eq!(
        page(&seva, &phone, "/inbox").0,
        303,
        "the phone is logged out"
    );
    let (status, html, _) = page(&seva, &laptop, "/settings");
    assert_eq!(status, 200, "this browser stays");
    let list = sessions_list(&html);
    assert_eq!(list.matches("<li>").count(), 1, "{list}");
    assert!(
        !html.contains("/me/sessions/others"),
        "nothing else to log out of"
    );
    // Without the page's token the form does nothing.
    log_in_from(&seva, &mut phone, PASSWORD, android);
    let (status, _, _) = post(&seva, &laptop, "/me/sessions/others", &[("csrf", "forged")]);
    assert_eq!(status, 403);
    assert_eq!(page(&seva, &phone, "/inbox").0, 200);
}

#[test]
fn a_desk_that_requires_two_step_verification_of_admins_sends_them_to_set_it_up_first() {
    let seva = Seva::start_with("require_two_step = \"admins\"\n");
    seva.user("ravi@example.com", "admin", PASSWORD);
    seva.user("gopal@example.com", "agent", PASSWORD);
    // An agent is not concerned.
    let agent = Seva::agent();
    let (cookie, csrf) = login_page(&seva, &agent);
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", &cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", "gopal@example.com"),
            ("password", PASSWORD),
        ])
        .unwrap();
    let gopal = Jar(vec![common::set_cookie(&res)]);
    assert_eq!(page(&seva, &gopal, "/inbox").0, 200);

    // An admin without it is sent to set it up, from every page but that one and logging
    // out; the API (tokens) is not concerned.
    let mut ravi = Jar::default();
    assert_eq!(log_in(&seva, &mut ravi, PASSWORD), (303, "/inbox".into()));
    for path in ["/inbox", "/settings", "/settings/people"] {
        let res = Seva::agent()
            .get(&seva.url(path))
            .header("Cookie", ravi.header())
            .call()
            .unwrap();
        assert_eq!(location(&res), "/me/two-step", "{path}");
    }
    let (status, html, csrf) = page(&seva, &ravi, "/me/two-step");
    assert_eq!(status, 200);
    assert!(
        html.contains("requires two-step verification of you"),
        "{html}"
    );
    let token = seva.cli(&["token", "create", "--user", "ravi@example.com"]);
    assert_eq!(seva.api_as(token.trim(), "GET", "/api/v1/me", None).0, 200);

    // Set up, the desk opens; it cannot be turned off while required.
    let (_, _, setup) = post(&seva, &ravi, "/me/two-step/start", &[("csrf", &csrf)]);
    let key = key_in(&setup);
    let code = totp(&key, now());
    let (status, _, _) = post(
        &seva,
        &ravi,
        "/me/two-step/on",
        &[("csrf", &csrf), ("code", &code)],
    );
    assert_eq!(status, 200);
    assert_eq!(page(&seva, &ravi, "/inbox").0, 200);
    let next = totp(&key, now() + 30);
    let (status, _, body) = post(
        &seva,
        &ravi,
        "/me/two-step/off",
        &[("csrf", &csrf), ("code", &next)],
    );
    assert_eq!(status, 422);
    assert!(body.contains("requires two-step verification"), "{body}");
    let (_, me) = seva.api_as(token.trim(), "GET", "/api/v1/me", None);
    assert_eq!(me["two_step"], true, "still on");

    // A new admin with a one-time password chooses their own first, then sets it up.
    let (_, made) = seva.api_as(
        token.trim(),
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "nina@example.com", "name": "Nina", "role": "admin"})),
    );
    let once = made["one_time_password"].as_str().unwrap().to_string();
    let agent = Seva::agent();
    let (cookie, csrf) = login_page(&seva, &agent);
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", &cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", "nina@example.com"),
            ("password", once.as_str()),
        ])
        .unwrap();
    assert_eq!(location(&res), "/me/password");
    let nina = Jar(vec![common::set_cookie(&res)]);
    let (status, _, csrf) = page(&seva, &nina, "/me/password");
    assert_eq!(status, 200, "no loop between the two");
    let new = [
        ("csrf", csrf.as_str()),
        ("password", "nina's own password"),
        ("again", "nina's own password"),
    ];
    assert_eq!(post(&seva, &nina, "/me/password", &new).0, 303);
    let res = Seva::agent()
        .get(&seva.url("/inbox"))
        .header("Cookie", nina.header())
        .call()
        .unwrap();
    assert_eq!(location(&res), "/me/two-step");
}

/// The settings page's list of where the agent is logged in.
fn sessions_list(html: &str) -> &str {
    html.split("id=\"sessions\"")
        .nth(1)
        .unwrap()
        .split("</ul>")
        .next()
        .unwrap()
}
