//! Outgoing webhooks through the API (SQLite and PostgreSQL), to a receiver on a local
//! port: events arrive signed (the test checks the HMAC itself), a failed attempt is
//! retried with backoff and both attempts are in the delivery log, only the subscribed
//! kinds are sent, and bad webhooks are refused.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Seva;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

/// One request the receiver got: its headers (lower-case names) and body.
type Received = (Vec<(String, String)>, Vec<u8>);

/// A webhook receiver: answers 500 to the first `failures` requests, then 200.
fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/seva", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_lowercase(), v.trim().to_string()));
            }
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let n = {
                let mut all = store.lock().unwrap();
                all.push((headers, body));
                all.len()
            };
            let status = if n <= failures {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.0.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Checks `Seva-Signature: t=…,v1=…` against the body with the secret, independently of
/// the server's code.
fn verify(secret: &str, r: &Received) -> bool {
    let sig = header(r, "seva-signature");
    let (Some(t), Some(v1)) = (
        sig.split(',').find_map(|p| p.strip_prefix("t=")),
        sig.split(',').find_map(|p| p.strip_prefix("v1=")),
    ) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.1);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn events_arrive_signed_a_failure_is_retried_and_every_attempt_is_logged() {
    let seva = Seva::start();
    let (url, got) = receiver(1);
    let (s, hook) = seva.api(
        "POST",
        "/api/v1/webhooks",
        Some(
            json!({"url": url, "events": ["conversation.created", "conversation.status_changed"]}),
        ),
    );
    assert_eq!(s, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let id = hook["id"].as_str().unwrap().to_string();
    let (_, list) = seva.api("GET", "/api/v1/webhooks", None);
    assert!(
        list[0].get("secret").is_none(),
        "the secret is shown only once: {list}"
    );

    let (s, body) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "ana@example.ph"}, "subject": "Tulong", "text": "Hindi po gumagana ang app."})),
    );
    assert_eq!(s, 201, "{body}");
    let conversation = body["id"].as_str().unwrap().to_string();
    // A message event is not subscribed; a status change is.
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(json!({"kind": "note", "text": "checking"})),
    );
    assert_eq!(s, 201);
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/status"),
        Some(json!({"status": "pending"})),
    );
    assert_eq!(s, 200);

    // The first attempt of the first event fails (500) and is retried after its backoff.
    wait_until("three requests", Duration::from_secs(40), || {
        got.lock().unwrap().len() >= 3
    });
    std::thread::sleep(Duration::from_millis(500));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "two events, one of them twice");
    for r in &got {
        assert!(verify(&secret, r), "bad signature: {:?}", r.0);
        assert!(!verify("another secret", r));
        let event: Value = serde_json::from_slice(&r.1).unwrap();
        assert_eq!(header(r, "seva-event"), event["kind"].as_str().unwrap());
        assert_eq!(event["conversation_id"], conversation.as_str());
    }
    let kinds: Vec<String> = got
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.1).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Whichever event came first got the 500 and came again; the other came once.
    let failed = kinds[0].clone();
    let other = if failed == "conversation.created" {
        "conversation.status_changed"
    } else {
        "conversation.created"
    };
    assert_eq!(
        kinds.iter().filter(|k| **k == failed).count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == other).count(), 1, "{kinds:?}");
    let retried: Vec<&Received> = got
        .iter()
        .filter(|r| serde_json::from_slice::<Value>(&r.1).unwrap()["kind"] == failed.as_str())
        .collect();
    assert_eq!(
        header(retried[0], "seva-delivery"),
        header(retried[1], "seva-delivery")
    );
    assert_eq!(header(retried[0], "seva-attempt"), "1");
    assert_eq!(header(retried[1], "seva-attempt"), "2");

    // The log holds the failed attempt and the two successes.
    let (s, log) = seva.api("GET", &format!("/api/v1/webhooks/{id}/deliveries"), None);
    assert_eq!(s, 200, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log.iter().filter(|d| d["status_code"] == 500).count(), 1);
    assert_eq!(log.iter().filter(|d| d["status_code"] == 200).count(), 2);
    assert!(
        log.iter()
            .any(|d| d["error"].as_str().unwrap_or("").contains("500")),
        "{log:?}"
    );
}

#[test]
fn bad_webhooks_are_refused_and_only_admins_make_them() {
    let seva = Seva::start();
    for (body, field) in [
        (
            json!({"url": "ftp://example.com/x", "events": ["*"]}),
            "url",
        ),
        (json!({"url": "http://", "events": ["*"]}), "url"),
        (
            json!({"url": "https://example.com/x", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["Conversation Created"]}),
            "events",
        ),
        (json!({"url": "https://example.com/x"}), "events"),
    ] {
        let (s, problem) = seva.api("POST", "/api/v1/webhooks", Some(body));
        assert_eq!(s, 422, "{problem}");
        assert!(
            problem["field"].as_str().unwrap().starts_with(field),
            "{problem}"
        );
    }
    let agent = seva.user("agent@example.com", "agent", "a long test password");
    let (s, _) = seva.api_as(
        &agent,
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": "https://example.com/x", "events": ["*"]})),
    );
    assert_eq!(s, 403);
    let (_, list) = seva.api("GET", "/api/v1/webhooks", None);
    assert_eq!(list, json!([]));
}
