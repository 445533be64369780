//! A local SMTP relay for the tests: it speaks enough ESMTP (EHLO, AUTH PLAIN, MAIL, RCPT,
//! DATA) for a real client (lettre inside Seva) and keeps what it was given, so a test
//! can read the mail Seva sent with its headers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    /// The decoded `AUTH PLAIN` login, if the client logged in.
    pub login: Option<(String, String)>,
}

impl Delivered {
    pub fn parsed(&self) -> seva_mail::Parsed {
        seva_mail::parse(&self.data).expect("Seva sent a readable message")
    }

    /// A raw header's value (unfolded), as a mail client sees it.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

pub struct Relay {
    pub port: u16,
    pub mail: Arc<Mutex<Vec<Delivered>>>,
}

impl Relay {
    /// A relay that accepts everything.
    pub fn start() -> Self {
        Self::start_answering("250 2.0.0 queued")
    }

    /// A relay that answers DATA with `answer` (e.g. a 5xx refusal).
    pub fn start_answering(answer: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mail = Arc::new(Mutex::new(Vec::new()));
        let kept = mail.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = session(stream, &kept, answer);
                });
            }
        });
        Relay { port, mail }
    }

    /// Waits until `n` messages have arrived, and returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Delivered> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.mail.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < until,
                "the relay got {} messages, not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn count(&self) -> usize {
        self.mail.lock().unwrap().len()
    }
}

fn session(
    stream: std::net::TcpStream,
    kept: &Mutex<Vec<Delivered>>,
    answer: &str,
) -> std::io::Result<()> {
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 relay.test ESMTP\r\n")?;
    let (mut from, mut to, mut login) = (String::new(), Vec::new(), None);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-relay.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("AUTH PLAIN") {
            let b64 = line.trim()[10..].trim();
            let raw = base64_decode(b64);
            let parts: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            if parts.len() == 3 {
                login = Some((
                    String::from_utf8_lossy(parts[1]).to_string(),
                    String::from_utf8_lossy(parts[2]).to_string(),
                ));
            }
            w.write_all(b"235 2.7.0 ok\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_string();
            w.write_all(b"250 ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
            w.write_all(b"250 ok\r\n")?;
        } else if upper.starts_with("DATA") {
            w.write_all(b"354 go on\r\n")?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                r.read_until(b'\n', &mut l)?;
                if l == b".\r\n" || l.is_empty() {
                    break;
                }
                let body = if l.starts_with(b"..") {
                    &l[1..]
                } else {
                    &l[..]
                };
                data.extend_from_slice(body);
            }
            if answer.starts_with('2') {
                kept.lock().unwrap().push(Delivered {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                    login: login.clone(),
                });
            }
            w.write_all(format!("{answer}\r\n").as_bytes())?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n")?;
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = A.iter().position(|a| *a == c) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
