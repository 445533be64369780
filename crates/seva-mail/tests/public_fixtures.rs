//! Seva's email understanding against public material it was not written from:
//!
//! - the standard replies of Mailgun's talon (PyPI), each a real client's reply with the
//!   expected new words, fetched at test time with pip;
//! - CPython's email test messages (Debian's libpython3-testsuite), every shape of MIME
//!   and broken header, each of which must read or be refused with a reason, never panic.
//!
//! Both fail loudly when their material cannot be had; `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use seva_mail::{parse, quote, sanitize};

const TALON: &str = "talon==1.4.4";

fn talon_replies() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("talon-1.4.4");
    let replies = cache.join("talon-1.4.4/tests/fixtures/standard_replies");
    if replies.is_dir() {
        return replies;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let pip = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            TALON,
            "-d",
        ])
        .arg(&cache)
        .status()
        .expect("python3 with pip is needed to fetch talon's fixtures");
    assert!(pip.success(), "pip could not download {TALON} from PyPI");
    let tar = Command::new("tar")
        .arg("xzf")
        .arg(cache.join("talon-1.4.4.tar.gz"))
        .arg("-C")
        .arg(&cache)
        .status()
        .unwrap();
    assert!(tar.success(), "could not unpack talon");
    assert!(
        replies.is_dir(),
        "talon's sdist has no standard_replies folder"
    );
    replies
}

fn tidy(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

#[test]
fn talon_standard_replies_lose_their_quoted_history() {
    let dir = talon_replies();
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("eml") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let parsed = parse(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let expected_file = path.with_file_name(format!(
            "{}_reply_text",
            path.file_stem().unwrap().to_str().unwrap()
        ));
        let expected = std::fs::read_to_string(&expected_file)
            .map(|s| tidy(&s))
            .unwrap_or_else(|_| "Hello".to_string());
        // talon reads the first text/plain part, as we do.
        let got = tidy(&quote::split_quote(&parsed.text).visible);
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {expected:?}\n  got      {got:?}",
                path.display()
            ));
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} fixtures found in {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn cpython_corpus() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("test/test_email/data"))
        .find(|p| p.is_dir());
    found.expect(
        "CPython's email test messages are missing: apt-get install libpython3.11-testsuite \
         (or the testsuite package of this machine's python3)",
    )
}

#[test]
fn every_cpython_test_message_reads_or_is_refused_with_a_reason() {
    let dir = cpython_corpus();
    let mut read = 0;
    let mut refused = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("msg_") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        match parse(&raw) {
            Ok(p) => {
                // The rest of the path an arriving message takes must hold too.
                let split = quote::strip(&p.text);
                assert!(split.visible.len() <= p.text.len() + 1, "{name}");
                if let Some(html) = &p.html {
                    let clean = sanitize::clean(html);
                    assert!(!clean.to_lowercase().contains("<script"), "{name}");
                }
                read += 1;
            }
            Err(e) => refused.push(format!("{name}: {e}")),
        }
    }
    assert!(
        read >= 30,
        "only {read} messages read from {}",
        dir.display()
    );
    // Only messages that truly name no sender may be refused.
    for r in &refused {
        assert!(r.contains("no sender") || r.contains("no headers"), "{r}");
    }
    eprintln!("{read} read, {} refused: {refused:?}", refused.len());
}
