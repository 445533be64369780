//! `seva bench --routing` (issue #7). Through the running server: conversations created
//! per second without routing, then for a team of 200 agents (least busy) with 50 rules
//! on every arrival, which is the rate of routing decisions; the create latency is the
//! time from the arrival to its assignment, since both commit together. In-process, on a
//! separate SQLite file: the SLA timer sweep's cost with 1,000,000 running clocks.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use seva_store::{Store, op};

use crate::bench::{Client, Server, create_load, ms, percentile};

async fn post(
    client: &mut Client,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let (status, bytes) = client.send("POST", path, Some(body.to_string())).await?;
    if !(200..300).contains(&status) {
        bail!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

/// A team of `agents` agents routed least busy, and `rules` rules on arrival: all but one
/// look for words the texts do not have, as most rules of a real desk do not match most
/// conversations; the last one tags Greek conversations.
async fn set_up(client: &mut Client, agents: usize, rules: usize) -> Result<String> {
    let team = post(
        client,
        "/api/v1/teams",
        serde_json::json!({"name": "Routing bench"}),
    )
    .await?;
    let team = team["id"].as_str().unwrap_or_default().to_string();
    for i in 0..agents {
        let a = post(
            client,
            "/api/v1/agents",
            serde_json::json!({"email": format!("agent{i}@bench.seva"), "name": format!("Agent {i}"), "role": "agent"}),
        )
        .await?;
        let id = a["agent"]["id"].as_str().unwrap_or_default().to_string();
        post(
            client,
            &format!("/api/v1/teams/{team}/members"),
            serde_json::json!({"agent_id": id}),
        )
        .await?;
        // Every agent speaks the four languages the bench's customers write in.
        let (status, body) = client
            .send(
                "PUT",
                &format!("/api/v1/agents/{id}/routing"),
                Some(
                    serde_json::json!({"available": true, "languages": ["te", "el", "tl", "en"]})
                        .to_string(),
                ),
            )
            .await?;
        if status != 200 {
            bail!(
                "agent routing answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    let (status, body) = client
        .send(
            "PUT",
            &format!("/api/v1/teams/{team}/routing"),
            Some(serde_json::json!({"strategy": "least_busy"}).to_string()),
        )
        .await?;
    if status != 200 {
        bail!(
            "routing answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    for i in 0..rules.saturating_sub(1) {
        let words: Vec<String> = (0..10).map(|w| format!("keyword{i}x{w}")).collect();
        post(
            client,
            "/api/v1/rules",
            serde_json::json!({"name": format!("Rule {i}"), "trigger": "conversation.created",
                "conditions": [{"field": "text", "op": "contains_any", "value": words}],
                "actions": [{"type": "set_priority", "value": "high"}]}),
        )
        .await?;
    }
    post(
        client,
        "/api/v1/rules",
        serde_json::json!({"name": "Greek", "trigger": "conversation.created",
            "conditions": [{"field": "language", "op": "is", "value": "el"}],
            "actions": [{"type": "add_tag", "value": "greek"}]}),
    )
    .await?;
    Ok(team)
}

async fn creates(
    server: &Server,
    token: &Arc<str>,
    concurrency: usize,
    seconds: u64,
    counter: &Arc<AtomicU64>,
    team: Option<Arc<str>>,
) -> Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let (ok, failed, lat) = create_load(
        &server.addr,
        token.clone(),
        concurrency,
        started + Duration::from_secs(seconds),
        u64::MAX,
        counter.clone(),
        team,
    )
    .await?;
    if failed > 0 {
        bail!("{failed} creates failed");
    }
    Ok((ok as f64 / started.elapsed().as_secs_f64(), lat))
}

pub async fn run(
    server: &Server,
    token: Arc<str>,
    dir: &std::path::Path,
    seconds: u64,
    concurrency: usize,
) -> Result<()> {
    println!(
        "# seva bench --routing — SQLite, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let counter = Arc::new(AtomicU64::new(0));
    let (plain, plain_lat) = creates(server, &token, concurrency, seconds, &counter, None).await?;
    let mut client = Client::connect(&server.addr, token.clone()).await?;
    let setting_up = Instant::now();
    let team: Arc<str> = set_up(&mut client, 200, 50).await?.into();
    let set_up_secs = setting_up.elapsed().as_secs_f64();
    let (routed, routed_lat) = creates(
        server,
        &token,
        concurrency,
        seconds,
        &counter,
        Some(team.clone()),
    )
    .await?;
    // Every routed conversation has an owner: nobody was left out by capacity.
    let (status, body) = client
        .send("GET", &format!("/api/v1/teams/{team}/queue"), None)
        .await?;
    let queued = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(usize::MAX);
    if status != 200 || queued != 0 {
        bail!("{queued} conversations were left in the queue ({status})");
    }
    println!("| figure | result |");
    println!("| --- | --- |");
    println!(
        "| conversations created per second, no team, no rules (concurrency {concurrency}, {seconds} s) | {plain:.0}/s, p50 / p99 {} / {} |",
        ms(percentile(&plain_lat, 0.5)),
        ms(percentile(&plain_lat, 0.99))
    );
    println!(
        "| routing decisions per second: creates for a team of 200 agents (least busy) with 50 rules on each arrival | {routed:.0}/s ({:.0}% of the plain rate) |",
        100.0 * routed / plain
    );
    println!(
        "| time from an inbound message to its assignment (one commit), p50 / p99 | {} / {} |",
        ms(percentile(&routed_lat, 0.5)),
        ms(percentile(&routed_lat, 0.99))
    );
    println!("| setting up 200 agents and 50 rules through the API | {set_up_secs:.1} s |");
    sweep(dir).await
}

/// The SLA sweep with 1,000,000 running clocks, none due: the cost of the check the worker
/// makes every poll; then with 1,000 of them due: the cost of firing their breaches.
async fn sweep(dir: &std::path::Path) -> Result<()> {
    const CLOCKS: i64 = 1_000_000;
    const DUE: i64 = 1_000;
    let path = dir.join("sweep.db");
    let store = Store::open_sqlite(&path).await?;
    let now = seva_store::now();
    let (future, past) = (now.micros() + 3_600_000_000, now.micros() - 60_000_000);
    let seeding = Instant::now();
    store
        .write(op!(c => {
            c.execute("INSERT INTO contacts (id, name, created_at, updated_at) VALUES ('0190a0c0-0000-7000-8000-000000000000', 'Bench', 0, 0)", &[]).await?;
            c.execute(
                "INSERT INTO sla_policies (id, name, position, conditions, first_response_minutes, warn_minutes, created_at) \
                 VALUES ('0190a0c0-0000-7000-8000-100000000000', 'Bench', 1, '{}', 60, 0, 0)",
                &[],
            )
            .await?;
            c.execute(
                &format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CLOCKS}) \
                     INSERT INTO conversations (id, subject, status, priority, channel, contact_id, created_at, updated_at) \
                     SELECT printf('0190a0c0-0000-7000-8000-%012d', i), 'Bench', 'open', 'normal', 'api', '0190a0c0-0000-7000-8000-000000000000', i, i FROM n"
                ),
                &[],
            )
            .await?;
            c.execute(
                &format!(
                    "INSERT INTO sla_clocks (conversation_id, metric, policy_id, started_at, due_at, warn_at) \
                     SELECT id, 'first_response', '0190a0c0-0000-7000-8000-100000000000', 0, {future}, {future} FROM conversations"
                ),
                &[],
            )
            .await?;
            Ok(())
        }))
        .await?;
    let seeded = seeding.elapsed();
    let mut checks = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let due = store
            .read(op!(c => seva_store::sla::anything_due(c, seva_store::now()).await))
            .await?;
        checks.push(t.elapsed());
        if due {
            bail!("nothing should be due yet");
        }
    }
    checks.sort();
    store
        .write(op!(c => {
            c.execute(
                &format!(
                    "UPDATE sla_clocks SET due_at = {past}, warn_at = {past} WHERE conversation_id IN \
                     (SELECT id FROM conversations ORDER BY seq LIMIT {DUE})"
                ),
                &[],
            )
            .await?;
            Ok(())
        }))
        .await?;
    let firing = Instant::now();
    let mut fired = 0;
    loop {
        let n = store
            .write(op!(c => seva_store::sla::sweep(c, seva_store::now(), 500).await))
            .await?;
        if n == 0 {
            break;
        }
        fired += n;
    }
    let fired_in = firing.elapsed();
    if fired != DUE as usize {
        bail!("the sweep fired {fired} clocks, not {DUE}");
    }
    println!(
        "| SLA sweep with 1,000,000 running clocks, none due: the check each poll makes, p50 / p99 | {} / {} (seeded in {:.1} s) |",
        ms(percentile(&checks, 0.5)),
        ms(percentile(&checks, 0.99)),
        seeded.as_secs_f64()
    );
    println!(
        "| SLA sweep firing 1,000 due clocks (warning and breach events, rules run) among 1,000,000 | {} in all, {:.0} µs each |",
        ms(fired_in),
        fired_in.as_micros() as f64 / DUE as f64
    );
    Ok(())
}
