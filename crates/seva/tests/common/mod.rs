//! Starts the real `seva serve` on a free port with a temporary data folder (or, when
//! `SEVA_TEST_POSTGRES` is set, a fresh PostgreSQL database that is dropped afterwards)
//! and talks to it over HTTP, as any client would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod chat;
pub mod dovecot;
pub mod mail;
pub mod relay;

pub const ADMIN: &str = "admin@test.local";

pub struct Seva {
    pub child: Child,
    pub base: String,
    /// The SMTP listener's address (host:port).
    pub smtp: String,
    pub dir: PathBuf,
    pub token: String,
    database_url: Option<String>,
    pg: Option<(String, String)>,
    extra_config: String,
    /// Environment variables every `seva` command of this server gets.
    env: Vec<(String, String)>,
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

fn psql(admin_url: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(admin_url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql must be installed for the PostgreSQL tests");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Seva {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// `extra_config` is TOML added to the server's config file.
    pub fn start_with(extra_config: &str) -> Self {
        Self::start_with_env(extra_config, &[])
    }

    /// [`Seva::start_with`], with environment variables for every `seva` command.
    pub fn start_with_env(extra_config: &str, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("seva-test-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let (database_url, pg) = match std::env::var("SEVA_TEST_POSTGRES") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("seva_e2e_{}", unique());
                psql(&admin, &format!("CREATE DATABASE {name}"));
                let (base, _) = admin.rsplit_once('/').unwrap();
                (Some(format!("{base}/{name}")), Some((admin, name)))
            }
            _ => (None, None),
        };
        let mut seva = Seva {
            child: Command::new("true").spawn().unwrap(),
            base: String::new(),
            smtp: String::new(),
            dir,
            token: String::new(),
            database_url,
            pg,
            extra_config: extra_config.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        seva.boot();
        seva.token = seva
            .cli(&["token", "create", "--user", ADMIN])
            .trim()
            .to_string();
        seva
    }

    /// Whether this server runs on PostgreSQL (`SEVA_TEST_POSTGRES`) rather than SQLite.
    pub fn on_postgres(&self) -> bool {
        self.database_url.is_some()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seva"));
        let config = self.dir.join("seva.toml");
        std::fs::write(&config, &self.extra_config).unwrap();
        cmd.args(args)
            .arg("--data")
            .arg(self.dir.join("data"))
            .arg("--config")
            .arg(&config)
            .args(["--log", "warn"]);
        cmd.env("SEVA_ADMIN_EMAIL", ADMIN);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd
    }

    /// Runs a `seva` subcommand on the same data; returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "seva {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "seva {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a `seva` subcommand with `stdin`; returns its exit code.
    pub fn cli_exit(&self, args: &[&str], stdin: &[u8]) -> i32 {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait().unwrap().code().expect("seva exited normally")
    }

    fn boot(&mut self) {
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap();
        let mut child = self
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--smtp-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut smtp = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("smtp listening on ") {
                    smtp = addr.to_string();
                } else if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send((addr.to_string(), smtp.clone()));
                }
            }
        });
        let (addr, smtp) = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "seva serve did not start: {}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                )
            });
        self.child = child;
        self.base = format!("http://{addr}");
        self.smtp = smtp;
    }

    /// SIGKILL: no shutdown, no flushing; what was acknowledged must already be on disk.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.boot();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    /// An API call with the admin's token: (status, JSON body or Null).
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_as(&self.token, method, path, body)
    }

    pub fn api_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let agent = Self::agent();
        let url = self.url(path);
        let auth = format!("Bearer {token}");
        let res = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => agent.post(&url).header("Authorization", &auth).send_json(b),
            ("POST", None) => agent.post(&url).header("Authorization", &auth).send_empty(),
            ("PATCH", Some(b)) => agent
                .patch(&url)
                .header("Authorization", &auth)
                .send_json(b),
            ("PUT", Some(b)) => agent.put(&url).header("Authorization", &auth).send_json(b),
            (m, _) => panic!("no helper for {m}"),
        }
        .unwrap();
        read(res)
    }

    /// Moves the server's clock (a server started with `test_clock = true`).
    pub fn set_now(&self, rfc3339: &str) {
        let (s, body) = self.api(
            "POST",
            "/api/v1/test/clock",
            Some(serde_json::json!({"now": rfc3339})),
        );
        assert_eq!(s, 200, "{body}");
    }

    /// A user with a known password and a token, for tests that act as someone else.
    pub fn user(&self, email: &str, role: &str, password: &str) -> String {
        self.cli_with_stdin(
            &[
                "user",
                "add",
                email,
                "--name",
                email.split('@').next().unwrap(),
                "--role",
                role,
                "--password-stdin",
            ],
            password,
        );
        self.cli(&["token", "create", "--user", email])
            .trim()
            .to_string()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

pub fn read(mut res: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Drop for Seva {
    fn drop(&mut self) {
        self.kill();
        if let Some((admin, name)) = self.pg.take() {
            psql(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A multipart/form-data body as a browser sends it: text fields and files.
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----seva-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, filename, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Submits the public web form; returns (status, page HTML).
pub fn submit_form(
    seva: &Seva,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (u16, String) {
    submit_form_to(seva, None, fields, files)
}

/// [`submit_form`] on the web form of the inbox named `inbox` (the default form if none).
pub fn submit_form_to(
    seva: &Seva,
    inbox: Option<&str>,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (u16, String) {
    let (content_type, body) = multipart(fields, files);
    let path = match inbox {
        Some(name) => format!("/contact?lang=en&inbox={name}"),
        None => "/contact?lang=en".to_string(),
    };
    let mut res = Seva::agent()
        .post(&seva.url(&path))
        .header("Content-Type", &content_type)
        .send(&body[..])
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The `#123` reference a thank-you page shows.
pub fn reference_in(html: &str) -> Option<i64> {
    let at = html.find("reference is #")? + "reference is #".len();
    html[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The value of `name="<field>" value="…"` or `name="<field>" content="…"` in a page.
pub fn attribute_after(html: &str, marker: &str) -> String {
    html.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{marker} not in page"))
        .to_string()
}

/// Opens the login page: its cookie and the form's CSRF token (they must match).
pub fn login_page(seva: &Seva, agent: &ureq::Agent) -> (String, String) {
    let mut res = agent.get(&seva.url("/login")).call().unwrap();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = res.body_mut().read_to_string().unwrap();
    (cookie, attribute_after(&html, "name=\"csrf\" value=\""))
}

/// Logs in through the login page, as a browser would; the session's cookie
/// (`seva_session=…`).
pub fn log_in(seva: &Seva, email: &str, password: &str) -> String {
    let agent = Seva::agent();
    let (cookie, csrf) = login_page(seva, &agent);
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", &cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{email} could not log in");
    let session = set_cookie(&res);
    assert!(session.starts_with("seva_session="), "{session}");
    session
}

/// The `name=value` of the cookie a response sets.
pub fn set_cookie<B>(res: &ureq::http::Response<B>) -> String {
    res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A team with these members (created as agents) and this routing; returns its id.
pub fn team(seva: &Seva, name: &str, routing: Value, members: &[&str]) -> String {
    let (s, t) = seva.api(
        "POST",
        "/api/v1/teams",
        Some(serde_json::json!({"name": name})),
    );
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_string();
    for email in members {
        seva.user(email, "agent", "a long test password");
        let agent = agent_id(seva, email);
        let (s, body) = seva.api(
            "POST",
            &format!("/api/v1/teams/{id}/members"),
            Some(serde_json::json!({"agent_id": agent})),
        );
        assert_eq!(s, 200, "{body}");
    }
    let (s, body) = seva.api("PUT", &format!("/api/v1/teams/{id}/routing"), Some(routing));
    assert_eq!(s, 200, "{body}");
    id
}

pub fn agent_id(seva: &Seva, email: &str) -> String {
    let (_, list) = seva.api("GET", "/api/v1/agents", None);
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Searches until `ready` holds for the hits (the index follows the event log).
/// Waits until the search index holds every event stored so far (its commit, about once a
/// second, is what searches see), then searches `path` until `ready` holds for the hits.
/// Waiting for the whole index first keeps a search from seeing half a batch of writes.
pub fn search_until(seva: &Seva, path: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = std::time::Instant::now();
    let within = Duration::from_secs(15);
    loop {
        let res = Seva::agent().get(&seva.url("/metrics")).call().unwrap();
        let metrics = res.into_body().read_to_string().unwrap();
        let behind = metrics
            .lines()
            .find_map(|l| l.strip_prefix("seva_search_behind_events "))
            .unwrap_or_else(|| panic!("/metrics has no seva_search_behind_events: {metrics}"));
        if behind.trim() == "0" {
            break;
        }
        assert!(
            started.elapsed() < within,
            "the index is {behind} events behind"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    loop {
        let (s, body) = seva.api("GET", path, None);
        assert_eq!(s, 200, "{body}");
        let hits = body["hits"].as_array().cloned().unwrap_or_default();
        if ready(&hits) {
            return hits;
        }
        assert!(started.elapsed() < within, "{path}: still {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// On SQLite, waits up to 20 s until the database file itself (not its write-ahead log)
/// holds every one of `words`, or, with `held` false, none of them: the checkpoint copies
/// committed pages into the file every 200 ms. On PostgreSQL there is no file to read,
/// and nothing to wait for.
pub fn wait_for_database_file(seva: &Seva, words: &[&str], held: bool) {
    if seva.on_postgres() {
        return;
    }
    let file = seva.dir.join("data").join("seva.db");
    let started = std::time::Instant::now();
    loop {
        let bytes = std::fs::read(&file).unwrap();
        let holds = |w: &str| bytes.windows(w.len()).any(|b| b == w.as_bytes());
        let done = if held {
            words.iter().all(|w| holds(w))
        } else {
            !words.iter().any(|w| holds(w))
        };
        if done {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the database file {} {words:?}",
            if held { "never held" } else { "still holds" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A conversation made through the API from `body`; its id.
pub fn create(seva: &Seva, body: serde_json::Value) -> String {
    let (s, c) = seva.api("POST", "/api/v1/conversations", Some(body));
    assert_eq!(s, 201, "{c}");
    c["id"].as_str().unwrap().to_string()
}

/// Moves a conversation to status `to` through the API, which must allow it.
pub fn set_status(seva: &Seva, conversation: &str, to: &str) {
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/status"),
        Some(serde_json::json!({"status": to})),
    );
    assert_eq!(s, 200, "{c}");
}

/// The messages of a conversation, as the API lists them.
pub fn messages(seva: &Seva, conversation: &str) -> Vec<serde_json::Value> {
    let (s, list) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/messages"),
        None,
    );
    assert_eq!(s, 200, "{list}");
    list.as_array().unwrap().clone()
}
