//! `seva bench --chat` (issue #5). Through the running server, as clients would: many
//! visitor WebSocket sessions held open at once (the server's resident memory with them),
//! then messages flowing from visitors to an agent at a steady rate, timed from the
//! visitor's send to the agent's live stream announcing them (end to end), and to the
//! visitor's ack (committed).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::bench::{Client, Server, ms, percentile, rss_kib};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// When each conversation's messages were sent, oldest first, waiting for the agent's
/// stream to announce them.
type Sent = Arc<Mutex<HashMap<String, VecDeque<Instant>>>>;

async fn next_json(ws: &mut Ws) -> Result<Value> {
    loop {
        match ws.next().await.context("the session closed")?? {
            Message::Text(t) => return Ok(serde_json::from_str(&t)?),
            Message::Close(_) => bail!("the server closed a session"),
            _ => continue,
        }
    }
}

/// Opens a visitor session and says hello (a new visitor each time).
async fn visitor(url: &str) -> Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::text(json!({"type": "hello", "v": 1}).to_string()))
        .await?;
    let welcome = next_json(&mut ws).await?;
    if welcome["type"] != "welcome" {
        bail!("no welcome: {welcome}");
    }
    Ok(ws)
}

/// The agent's live stream: every `message.created` it announces settles the oldest send
/// of that conversation, and its end-to-end latency joins `seen`.
async fn agent_stream(
    addr: String,
    token: Arc<str>,
    sent: Sent,
    seen: Arc<Mutex<Vec<Duration>>>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<()> {
    let stream = TcpStream::connect(&addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("/live")
        .header("host", &addr)
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<bytes::Bytes>::new())?;
    let mut body = sender.send_request(req).await?.into_body();
    let _ = ready.send(());
    let mut buf = String::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            if v["kind"] != "message.created" {
                continue;
            }
            let Some(c) = v["conversation_id"].as_str() else {
                continue;
            };
            let at = sent
                .lock()
                .ok()
                .and_then(|mut s| s.get_mut(c).and_then(VecDeque::pop_front));
            if let (Some(at), Ok(mut seen)) = (at, seen.lock()) {
                seen.push(at.elapsed());
            }
        }
    }
    Ok(())
}

pub async fn run(
    server: &Server,
    token: Arc<str>,
    held: usize,
    rate: usize,
    seconds: u64,
) -> Result<()> {
    println!(
        "# seva bench --chat — SQLite, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut client = Client::connect(&server.addr, token.clone()).await?;
    let (status, body) = client
        .send(
            "POST",
            "/api/v1/inboxes",
            Some(json!({"name": "bench-chat", "channel": "chat"}).to_string()),
        )
        .await?;
    if status != 201 {
        bail!(
            "creating the chat inbox answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let inbox: Value = serde_json::from_slice(&body)?;
    let url = format!(
        "ws://{}/chat/v1/ws?inbox={}",
        server.addr,
        inbox["id"].as_str().unwrap_or("")
    );
    let idle_rss = rss_kib(server.pid()).unwrap_or(0);

    // Hold `held` sessions open, opened 500 at a time; each keeps reading (answering the
    // server's pings) in a task of its own.
    let opening = Instant::now();
    let mut sessions: Vec<Ws> = Vec::with_capacity(held);
    while sessions.len() < held {
        let batch = (held - sessions.len()).min(500);
        let opened = futures_util::future::join_all((0..batch).map(|_| visitor(&url))).await;
        for ws in opened {
            sessions.push(ws?);
        }
    }
    let open_secs = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held_rss = rss_kib(server.pid()).unwrap_or(0);

    // Senders: `rate / 5` sessions each sending five messages a second.
    let senders = (rate / 5).max(1).min(sessions.len());
    let mut talking: Vec<Ws> = sessions.drain(..senders).collect();
    let idle: Vec<Ws> = sessions;
    let keep_idle = tokio::spawn(async move {
        let mut idle = idle;
        loop {
            // Drain whatever the server sends the idle sessions (pings, mostly).
            for ws in idle.iter_mut() {
                while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, ws.next()).await {}
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    // Each sender's first message opens its conversation, before the clock runs.
    let sent: Sent = Arc::default();
    let mut conversations = Vec::with_capacity(senders);
    for (i, ws) in talking.iter_mut().enumerate() {
        ws.send(Message::text(
            json!({"type": "message", "client_id": format!("open-{i}"), "text": "Hello, I need help with my order"})
                .to_string(),
        ))
        .await?;
        loop {
            let f = next_json(ws).await?;
            if f["type"] == "ack" {
                conversations.push(f["conversation_id"].as_str().unwrap_or("").to_string());
                break;
            }
        }
    }
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let seen: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let agent = tokio::spawn(agent_stream(
        server.addr.clone(),
        token.clone(),
        sent.clone(),
        seen.clone(),
        ready_tx,
    ));
    ready_rx.await.ok();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, (mut ws, conversation)) in talking.into_iter().zip(conversations).enumerate() {
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            // Spread the senders over the tick, as independent visitors are: each sender's
            // ticks start at its own offset (an interval made before a sleep would keep
            // the common start, and every sender would send in the same instant).
            let offset = Duration::from_micros((i as u64 * 200_000) / senders as u64);
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + offset,
                Duration::from_millis(200),
            );
            let mut n = 0u64;
            while Instant::now() < deadline {
                tick.tick().await;
                let at = Instant::now();
                if let Ok(mut s) = sent.lock() {
                    s.entry(conversation.clone()).or_default().push_back(at);
                }
                ws.send(Message::text(
                    json!({"type": "message", "client_id": format!("m-{n}"), "text": "Is there any news about my parcel?"})
                        .to_string(),
                ))
                .await?;
                n += 1;
                loop {
                    let f = next_json(&mut ws).await?;
                    if f["type"] == "ack" {
                        acks.push(at.elapsed());
                        break;
                    }
                }
            }
            Ok::<_, anyhow::Error>((acks, ws))
        }));
    }
    let mut acks = Vec::new();
    let mut open = Vec::new();
    for t in tasks {
        let (a, ws) = t.await??;
        acks.extend(a);
        open.push(ws);
    }
    let flowed = acks.len();
    // Let the last announcements arrive, then read what the agent saw.
    tokio::time::sleep(Duration::from_secs(1)).await;
    agent.abort();
    keep_idle.abort();
    drop(open);
    let mut e2e = seen.lock().map(|s| s.clone()).unwrap_or_default();
    e2e.sort();
    acks.sort();
    let per_second = flowed as f64 / seconds as f64;
    println!("| figure | result |");
    println!("| --- | --- |");
    println!(
        "| visitor sessions held open (WebSocket, each said hello) | {held} in {open_secs:.1} s |"
    );
    println!(
        "| server resident memory: idle / with {held} sessions | {} / {} MiB ({:.1} KiB a session) |",
        idle_rss / 1024,
        held_rss / 1024,
        held_rss.saturating_sub(idle_rss) as f64 / held.max(1) as f64
    );
    println!(
        "| messages visitor -> agent ({senders} visitors, {seconds} s, with the other sessions open) | {per_second:.0}/s |"
    );
    println!(
        "| visitor's send to its ack (committed), p50 / p99 | {} / {} |",
        ms(percentile(&acks, 0.5)),
        ms(percentile(&acks, 0.99))
    );
    println!(
        "| visitor's send to the agent's live stream, p50 / p99 ({} of {flowed} seen) | {} / {} |",
        e2e.len(),
        ms(percentile(&e2e, 0.5)),
        ms(percentile(&e2e, 0.99))
    );
    let widget = seva_server::chat::widget_size();
    println!(
        "| widget.js as served (all four languages' words included) | {:.1} KB |",
        widget as f64 / 1000.0
    );
    Ok(())
}
