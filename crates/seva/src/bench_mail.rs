//! `seva bench --mail`: the email channel's figures. MIME parsing alone (parse, strip the
//! quoted history, sanitise the HTML) in MB/s on this thread; messages stored per second
//! through the SMTP listener from 8 parallel senders (each answered 250 only after its
//! commit); and messages per second through `seva mail deliver`, a process per message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::bench::{Client, Server, ms, percentile};

const SENDERS: usize = 8;

/// A realistic 5 KB reply: Greek and Telugu text, quoted history, an HTML alternative.
fn message(n: u64) -> String {
    let para = "Καλησπέρα σας, η παραγγελία μου δεν έχει φτάσει ακόμα και θα ήθελα να μάθω πότε θα έρθει. \
                నా ఆర్డర్ ఇంకా రాలేదు, దయచేసి ఎప్పుడు వస్తుందో చెప్పండి. Salamat po sa tulong.\r\n";
    let text = para.repeat(9);
    let html = format!(
        "<div dir=\"ltr\"><p>{}</p></div><div class=\"gmail_quote\">On Mon wrote:<blockquote>old</blockquote></div>",
        para.repeat(5)
    );
    format!(
        "From: Customer {n} <c{n}@example.com>\r\nTo: support@bench.test\r\nSubject: Παραγγελία {n}\r\n\
         Message-ID: <bench-{n}-{}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
         On Mon, 2 Nov 2026 at 10:00, Support <support@bench.test> wrote:\r\n> earlier text\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--b--\r\n",
        std::process::id()
    )
}

pub async fn run(
    server: &Server,
    token: Arc<str>,
    dir: &std::path::Path,
    seconds: u64,
    postgres: Option<&str>,
) -> Result<()> {
    let backend = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite (WAL, synced before each answer)"
    };
    println!(
        "# seva bench --mail — {backend}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let sample = message(0);
    println!("| message size | {:.1} KB |", sample.len() as f64 / 1024.0);

    // MIME path alone.
    let corpus: Vec<String> = (0..500).map(message).collect();
    let (mut bytes, started) = (0usize, Instant::now());
    while started.elapsed() < Duration::from_secs(3) {
        for m in &corpus {
            let p = seva_mail::parse(m.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let split = seva_mail::quote::strip(&p.text);
            let html = p
                .html
                .as_deref()
                .and_then(seva_mail::sanitize::clean_without_quote);
            std::hint::black_box((split, html));
            bytes += m.len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| MIME path alone (parse, strip quotes, sanitise HTML), one thread | {:.1} MB/s ({:.0} messages/s) |",
        bytes as f64 / secs / 1e6,
        bytes as f64 / secs / sample.len() as f64
    );

    // The inbox.
    let mut api = Client::connect(&server.addr, token).await?;
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/inboxes",
            Some(r#"{"name":"support","channel":"email","address":"support@bench.test"}"#.into()),
        )
        .await?;
    if status != 201 {
        bail!(
            "creating the inbox answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // SMTP from parallel senders.
    let smtp = server
        .smtp
        .clone()
        .context("the server has no SMTP listener")?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let smtp = smtp.clone();
        tasks.push(tokio::spawn(async move {
            send_until(&smtp, sender as u64, deadline).await
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "| messages stored per second through SMTP ({SENDERS} senders, {seconds} s) | {:.0}/s ({} messages) |",
        lat.len() as f64 / secs,
        lat.len()
    );
    println!(
        "| SMTP DATA-to-250 latency p50 / p99 | {} / {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );

    // The pipe transport: one process per message, as an MTA runs it.
    let exe = std::env::current_exe()?;
    let (n, started) = (100u64, Instant::now());
    for i in 0..n {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args([
            "mail", "deliver", "--inbox", "support", "--log", "error", "--data",
        ])
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        if let Some(url) = postgres {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn()?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        stdin.write_all(message(10_000_000 + i).as_bytes()).await?;
        drop(stdin);
        let status = child.wait().await?;
        if !status.success() {
            bail!("seva mail deliver exited with {status}");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| messages stored per second through `seva mail deliver` (one process each, sequential) | {:.0}/s ({:.1} ms each) |",
        n as f64 / secs,
        secs * 1000.0 / n as f64
    );
    Ok(())
}

/// One SMTP connection sending messages until the deadline; returns each one's latency
/// from the end of DATA to the 250.
async fn send_until(addr: &str, sender: u64, deadline: Instant) -> Result<Vec<Duration>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut io = BufReader::new(stream);
    let mut line = String::new();
    async fn reply(io: &mut BufReader<tokio::net::TcpStream>, line: &mut String) -> Result<String> {
        loop {
            line.clear();
            if io.read_line(line).await? == 0 {
                bail!("the server closed the connection");
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.trim_end().to_string());
            }
        }
    }
    reply(&mut io, &mut line).await?;
    io.get_mut().write_all(b"EHLO bench.test\r\n").await?;
    reply(&mut io, &mut line).await?;
    let mut lat = Vec::new();
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let msg = message(sender * 1_000_000 + n);
        io.get_mut()
            .write_all(b"MAIL FROM:<bench@example.com>\r\nRCPT TO:<support@bench.test>\r\nDATA\r\n")
            .await?;
        for _ in 0..3 {
            let r = reply(&mut io, &mut line).await?;
            if !(r.starts_with("250") || r.starts_with("354")) {
                bail!("the listener answered {r}");
            }
        }
        let t = Instant::now();
        io.get_mut().write_all(msg.as_bytes()).await?;
        io.get_mut().write_all(b".\r\n").await?;
        let r = reply(&mut io, &mut line).await?;
        if !r.starts_with("250") {
            bail!("the listener answered {r}");
        }
        lat.push(t.elapsed());
    }
    io.get_mut().write_all(b"QUIT\r\n").await?;
    Ok(lat)
}
