//! Sending mail to a test server's SMTP listener, with swaks (a real SMTP client).

use std::process::Command;

use super::Seva;

/// The address of the email inbox the tests create.
pub const SUPPORT: &str = "support@seva.test";

/// Sends `raw` with swaks; returns swaks's transcript, and whether it succeeded.
pub fn swaks(seva: &Seva, to: &str, raw: &str) -> (bool, String) {
    let (host, port) = seva.smtp.rsplit_once(':').unwrap();
    let file = seva
        .dir
        .join(format!("msg-{}.eml", std::process::id() ^ raw.len() as u32));
    std::fs::write(&file, raw).unwrap();
    let out = Command::new("swaks")
        .args([
            "--server",
            host,
            "--port",
            port,
            "--from",
            "sender@example.com",
            "--to",
            to,
        ])
        .arg("--data")
        .arg(format!("@{}", file.display()))
        .args(["--timeout", "60"])
        .output()
        .expect("swaks must be installed (apt-get install swaks)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

pub fn send(seva: &Seva, raw: &str) -> String {
    let (ok, transcript) = swaks(seva, SUPPORT, raw);
    assert!(ok, "swaks failed:\n{transcript}");
    assert!(
        transcript.contains("<~  250 2.0.0") || transcript.contains("<-  250 2.0.0"),
        "{transcript}"
    );
    transcript
}

pub fn mail(from: &str, subject: &str, headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n{headers}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}
