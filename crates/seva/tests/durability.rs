//! No acknowledged message is ever lost: kill the server (SIGKILL, no shutdown) in the
//! middle of a burst of web-form submissions, or of mail sent with swaks, restart it, and
//! find every submission that got its thank-you page and every mail answered 250. And a
//! backup taken while Seva runs restores to a working desk.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Seva, reference_in, submit_form};
use serde_json::json;

fn all_references(seva: &Seva) -> Vec<i64> {
    let mut refs = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = seva.api(
            "GET",
            &format!("/api/v1/conversations?limit=200{cursor}"),
            None,
        );
        assert_eq!(status, 200);
        refs.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["reference"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return refs,
        }
    }
}

#[test]
fn every_acknowledged_submission_survives_a_kill_in_the_middle_of_a_burst() {
    let mut seva = Seva::start_with("form_submissions_per_hour = 1000000\n");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let seva_ref = &seva;
    std::thread::scope(|scope| {
        for sender in 0..8 {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let email = format!("burst{sender}-{n}@example.com");
                    let message = format!("Μήνυμα {n} από τον αποστολέα {sender}");
                    let fields = [
                        ("name", "Burst"),
                        ("email", email.as_str()),
                        ("subject", "Burst"),
                        ("message", message.as_str()),
                    ];
                    // After the kill, connections fail: that is expected and unacknowledged.
                    let Ok(result) =
                        std::panic::catch_unwind(|| submit_form(seva_ref, &fields, &[]))
                    else {
                        break;
                    };
                    if let (200, html) = result
                        && let Some(r) = reference_in(&html)
                    {
                        acknowledged.lock().unwrap().push(r);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        // SIGKILL while the senders are still sending.
        let _ = unsafe_kill(seva_ref);
        stop.store(true, Ordering::Relaxed);
    });
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "the burst was a burst ({} acknowledged)",
        acknowledged.len()
    );
    seva.restart();
    let stored = all_references(&seva);
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|r| !stored.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost after the kill: {missing:?}"
    );
    let mut unique = stored.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), stored.len(), "nothing stored twice");
}

/// Sends one mail with swaks; returns the reference from a `250 … stored as #N` answer.
fn swaks_once(seva: &Seva, n: usize) -> Option<(i64, String)> {
    let (host, port) = seva.smtp.rsplit_once(':')?;
    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            host,
            "--port",
            port,
            "--to",
            "support@seva.test",
            "--from",
            "b@example.com",
        ])
        .args(["--header", &format!("Message-ID: <burst-{n}@example.com>")])
        .args(["--header", &format!("Subject: Μήνυμα {n}")])
        .args(["--body", "Καλημέρα, γράφω για την παραγγελία μου."])
        .args(["--timeout", "20"])
        .output()
        .expect("swaks must be installed (apt-get install swaks)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let at = text.find("250 2.0.0 ")?;
    let line = text[at..].lines().next()?.to_string();
    let reference = line.rsplit('#').next()?.trim().parse().ok()?;
    Some((reference, line))
}

#[test]
fn every_mail_answered_250_survives_a_kill_in_the_middle_of_a_swaks_burst() {
    let mut seva = Seva::start();
    let (status, body) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "support", "channel": "email", "address": "support@seva.test"})),
    );
    assert_eq!(status, 201, "{body}");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let seva_ref = &seva;
    std::thread::scope(|scope| {
        for sender in 0..6 {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let n = sender * 100_000 + i;
                    i += 1;
                    if let Some((reference, _)) = swaks_once(seva_ref, n) {
                        acknowledged.lock().unwrap().push((n, reference));
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(2500));
        let _ = unsafe_kill(seva_ref);
        stop.store(true, Ordering::Relaxed);
    });
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "the burst was a burst ({} answered 250)",
        acknowledged.len()
    );
    seva.restart();
    let stored = all_references(&seva);
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|(_, r)| !stored.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "answered 250 but lost after the kill: {missing:?}"
    );
    // Sent again after the restart, each is recognised as the one already stored.
    for (n, reference) in acknowledged.iter().take(20) {
        let (again, line) = swaks_once(&seva, *n).expect("the listener answers after the restart");
        assert_eq!(again, *reference, "{line}");
        assert!(line.contains("already stored"), "{line}");
    }
}

/// Kills the server process from another thread (the harness owns the child).
fn unsafe_kill(seva: &Seva) -> std::io::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &seva.child.id().to_string()])
        .status()?;
    assert!(status.success());
    Ok(())
}

#[test]
fn a_backup_taken_while_seva_runs_restores_to_a_working_desk() {
    let seva = Seva::start();
    let (status, html) = submit_form(
        &seva,
        &[
            ("name", "Ελένη"),
            ("email", "eleni@example.com"),
            ("subject", "Τιμολόγιο"),
            ("message", "Χρειάζομαι αντίγραφο"),
        ],
        &[("files", "τιμολόγιο.txt", "γραμμή 1".as_bytes())],
    );
    assert_eq!(status, 200);
    let reference = reference_in(&html).unwrap();
    let dest = seva.dir.join("backup");
    if std::env::var("SEVA_TEST_POSTGRES").is_ok_and(|v| !v.is_empty()) {
        // PostgreSQL installations back up with pg_dump; the command says so plainly.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_seva"))
            .arg("backup")
            .arg(&dest)
            .arg("--database-url")
            .arg("postgres://x@127.0.0.1/x")
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        return;
    }
    seva.cli(&["backup", dest.to_str().unwrap()]);
    // Writes after the backup are not in it.
    let (status, _) = seva.api("POST", "/api/v1/conversations", Some(json!({"contact": {"email": "later@example.com"}, "subject": "later", "text": "after the backup"})));
    assert_eq!(status, 201);

    // Restore: the backup folder is a data folder.
    let restored_dir = dest.clone();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_seva"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "off",
            "--log",
            "warn",
            "--data",
        ])
        .arg(&restored_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = format!(
        "http://{}",
        line.trim().strip_prefix("listening on ").unwrap()
    );
    let token = String::from_utf8(
        std::process::Command::new(env!("CARGO_BIN_EXE_seva"))
            .args([
                "token",
                "create",
                "--user",
                common::ADMIN,
                "--log",
                "error",
                "--data",
            ])
            .arg(&restored_dir)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let get = |path: &str| {
        common::read(
            Seva::agent()
                .get(&format!("{base}{path}"))
                .header("Authorization", format!("Bearer {}", token.trim()))
                .call()
                .unwrap(),
        )
    };
    let (_, list) = get("/api/v1/conversations");
    let convs = list["data"].as_array().unwrap();
    assert_eq!(
        convs.len(),
        1,
        "the conversation from before the backup, and not the one after"
    );
    assert_eq!(convs[0]["reference"], reference);
    let (_, messages) = get(&format!(
        "/api/v1/conversations/{}/messages",
        convs[0]["id"].as_str().unwrap()
    ));
    let attachment = messages[0]["attachments"][0]["id"].as_str().unwrap();
    let mut res = Seva::agent()
        .get(&format!("{base}/api/v1/attachments/{attachment}"))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .call()
        .unwrap();
    assert_eq!(res.body_mut().read_to_string().unwrap(), "γραμμή 1");
    let _ = child.kill();
    let _ = child.wait();
}
