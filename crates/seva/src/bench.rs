//! `seva bench`: starts a real `seva serve` (a child process, so its memory is its own) on
//! a temporary data folder and measures it over loopback HTTP, as a client would:
//! conversations created per second at a given concurrency (each answered only after its
//! commit), inbox-list latency once the desk holds many conversations, resident memory,
//! and the binary's size. Figures go to docs/benchmarks.md.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds of sustained conversation creation.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Conversations in the desk before the list latency is measured.
    #[arg(long, default_value_t = 100_000)]
    conversations: u64,
    /// Seconds of list reading.
    #[arg(long, default_value_t = 10)]
    read_seconds: u64,
    /// Use this PostgreSQL database instead of a temporary SQLite folder.
    #[arg(long)]
    postgres: Option<String>,
    /// Measure the email channel instead: MIME parsing alone, SMTP ingest from parallel
    /// senders, and `seva mail deliver`.
    #[arg(long)]
    mail: bool,
    /// Measure routing and SLA timers instead (issue #7): routing decisions per second
    /// with 200 agents and 50 rules, and the SLA sweep over 1,000,000 running clocks.
    #[arg(long)]
    routing: bool,
    /// Measure live chat instead (issue #5): visitor sessions held open and the server's
    /// memory with them, then messages from visitors to an agent at `--chat-rate` a second.
    #[arg(long)]
    chat: bool,
    /// Visitor sessions held open for `--chat`.
    #[arg(long, default_value_t = 10_000)]
    chat_sessions: usize,
    /// Messages a second for `--chat`.
    #[arg(long, default_value_t = 1_000)]
    chat_rate: usize,
    /// Measure the search index instead (issue #6): indexing articles and messages in four
    /// languages, the index's size, and query latency.
    #[arg(long)]
    search: bool,
    /// Articles for `--search`.
    #[arg(long, default_value_t = 100_000)]
    search_articles: usize,
    /// Messages for `--search`.
    #[arg(long, default_value_t = 1_000_000)]
    search_messages: usize,
    /// Queries of each kind for `--search`.
    #[arg(long, default_value_t = 2_000)]
    search_queries: usize,
    /// Also drive the trivial handler and the creates with `hey` and `wrk` (Debian's
    /// packages of those names), for the share of the trivial handler as each tool reads it.
    #[arg(long)]
    load_tools: bool,
    /// Serve the yardstick instead: one trivial axum handler, nothing else (started by
    /// the benchmark itself, as a process of its own like `seva serve`).
    #[arg(long, hide = true)]
    bare_server: bool,
}

pub(crate) struct Server {
    child: tokio::process::Child,
    pub(crate) addr: String,
    pub(crate) smtp: Option<String>,
    pid: u32,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub(crate) async fn start(data: &std::path::Path, postgres: Option<&str>) -> Result<Server> {
    let exe = std::env::current_exe()?;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--smtp-listen",
        "127.0.0.1:0",
        "--log",
        "warn",
    ])
    .arg("--data")
    .arg(data)
    .env("SEVA_ADMIN_EMAIL", "bench@seva.local")
    // The load comes from one agent's token, far beyond the default budget of API calls;
    // a budget this large is still checked at every call, so its cost is measured.
    .env("SEVA_API_CALLS_PER_MINUTE", "1000000000")
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    if let Some(url) = postgres {
        cmd.arg("--database-url").arg(url);
    }
    listening(cmd).await
}

/// Starts `cmd` and waits for it to say where it listens.
async fn listening(mut cmd: tokio::process::Command) -> Result<Server> {
    let what = format!("{:?}", cmd.as_std());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let pid = child.id().context("no pid")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let (addr, smtp) = tokio::time::timeout(Duration::from_secs(60), async {
        let mut smtp = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(a) = line.strip_prefix("smtp listening on ") {
                smtp = Some(a.to_string());
            } else if let Some(a) = line.strip_prefix("listening on ") {
                return Ok::<_, anyhow::Error>((a.to_string(), smtp));
            }
        }
        bail!("{what} exited before listening")
    })
    .await
    .with_context(|| format!("{what} did not start within 60 s"))??;
    Ok(Server {
        child,
        addr,
        smtp,
        pid,
    })
}

/// An API token for the benchmark's admin.
fn token(dir: &std::path::Path, postgres: Option<&str>) -> Result<Arc<str>> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args([
        "token",
        "create",
        "--user",
        "bench@seva.local",
        "--log",
        "error",
        "--data",
    ])
    .arg(dir);
    if let Some(url) = postgres {
        cmd.arg("--database-url").arg(url);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().into())
}

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds each group of the server's threads has used so far, from
/// `/proc/<pid>/task/*/stat` (user and system time, in the kernel's fixed 100 ticks a
/// second on Linux). CPU time per create is steadier on a shared machine than the rate.
/// Threads that have ended are no longer listed there, though the process's own total
/// (`/proc/<pid>/stat`) still counts them: tantivy starts new indexing threads at every
/// commit of the search index, so their time is what the total holds beyond the live
/// threads, reported as `ended`.
pub(crate) fn thread_cpu(pid: u32) -> std::collections::BTreeMap<&'static str, f64> {
    let mut by_group = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_group;
    };
    for task in tasks.flatten() {
        let Some((name, seconds)) = stat_cpu(&task.path().join("stat")) else {
            continue;
        };
        let group = match name.as_str() {
            "seva-sqlite-wri" => "writer",
            "seva-sqlite-syn" => "sync",
            "seva-sqlite-ckp" => "checkpoint",
            "tokio-rt-worker" => "http",
            "seva-search" | "segment_updater" => "search",
            n if n.starts_with("thrd-tantivy") || n.starts_with("merge_thread") => "search",
            _ => "other",
        };
        *by_group.entry(group).or_insert(0.0) += seconds;
    }
    if let Some((_, total)) = stat_cpu(std::path::Path::new(&format!("/proc/{pid}/stat"))) {
        let live: f64 = by_group.values().sum();
        by_group.insert("ended", (total - live).max(0.0));
    }
    by_group
}

/// The machine's CPU time so far, busy and in all (in ticks of `/proc/stat`'s first line:
/// idle and waiting for I/O count as not busy), to tell whether a run was short of CPU.
pub(crate) fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// A task's (or the whole process's) name and CPU seconds, user and system, from a
/// `stat` file of `/proc`.
fn stat_cpu(path: &std::path::Path) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The name is in parentheses and may hold spaces; the fields follow the last ')'.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Some((stat[open + 1..close].to_string(), ticks as f64 / 100.0))
}

pub(crate) struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: String,
    token: Arc<str>,
}

impl Client {
    pub(crate) async fn connect(addr: &str, token: Arc<str>) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            sender,
            addr: addr.to_string(),
            token,
        })
    }

    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The texts customers write, in the languages Seva is tested with.
pub(crate) const TEXTS: &[(&str, &str)] = &[
    (
        "My order has not arrived",
        "I ordered a kettle two weeks ago and it has not arrived. Can you check?",
    ),
    (
        "నా ఆర్డర్ రాలేదు",
        "రెండు వారాల క్రితం ఆర్డర్ చేశాను, ఇంకా రాలేదు. దయచేసి చూడండి.",
    ),
    (
        "Η παραγγελία μου δεν έφτασε",
        "Παρήγγειλα πριν από δύο εβδομάδες και ακόμα δεν έχει έρθει.",
    ),
    (
        "Hindi pa dumarating ang order ko",
        "Nag-order ako dalawang linggo na ang nakalipas at wala pa rin.",
    ),
];

/// The `n`th customer's new conversation, for `team` if given.
pub(crate) fn conversation_body(n: u64, team: Option<&str>) -> String {
    let (subject, text) = TEXTS[(n % TEXTS.len() as u64) as usize];
    let mut body = serde_json::json!({
        "contact": {"email": format!("customer{}@example.com", n % 5000), "name": format!("Customer {}", n % 5000)},
        "subject": subject,
        "text": text,
    });
    if let Some(team) = team {
        body["team_id"] = team.into();
    }
    body.to_string()
}

/// Creates conversations (for `team`, if given) from `concurrency` clients until
/// `deadline` or `target` total.
pub(crate) async fn create_load(
    addr: &str,
    token: Arc<str>,
    concurrency: usize,
    deadline: Instant,
    target: u64,
    counter: Arc<AtomicU64>,
    team: Option<Arc<str>>,
) -> Result<(u64, u64, Vec<Duration>)> {
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (addr, token, counter) = (addr.to_string(), token.clone(), counter.clone());
        let team = team.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&addr, token).await?;
            let (mut ok, mut failed, mut lat) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= target {
                    break;
                }
                let t = Instant::now();
                let (status, _) = client
                    .send(
                        "POST",
                        "/api/v1/conversations",
                        Some(conversation_body(n, team.as_deref())),
                    )
                    .await?;
                lat.push(t.elapsed());
                if status == 201 { ok += 1 } else { failed += 1 }
            }
            Ok::<_, anyhow::Error>((ok, failed, lat))
        }));
    }
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (o, f, l) = t.await??;
        ok += o;
        failed += f;
        lat.extend(l);
    }
    lat.sort();
    Ok((ok, failed, lat))
}

/// The yardstick the target was set against: a trivial axum handler, served by
/// axum on the same runtime `seva serve` uses, with nothing in front of it.
async fn bare_server() -> Result<()> {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Requests per second `concurrency` clients get from `GET path` in `secs` seconds.
async fn trivial_rate(
    addr: &str,
    token: &Arc<str>,
    concurrency: usize,
    path: &'static str,
    secs: u64,
) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (addr, token) = (addr.to_string(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&addr, token).await?;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let (status, _) = client.send("GET", path, None).await?;
                if status != 200 {
                    bail!("{path} answered {status}");
                }
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / secs as f64)
}

pub async fn run(args: BenchArgs) -> Result<()> {
    if args.bare_server {
        return bare_server().await;
    }
    if args.search {
        return crate::bench_search::run(
            args.search_articles,
            args.search_messages,
            args.search_queries,
        );
    }
    let dir = std::env::temp_dir().join(format!("seva-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let server = start(&dir, args.postgres.as_deref()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_kib(server.pid);
    let token = token(&dir, args.postgres.as_deref())?;
    if args.chat {
        let r = crate::bench_chat::run(
            &server,
            token,
            args.chat_sessions,
            args.chat_rate,
            args.seconds,
        )
        .await;
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
        return r;
    }
    if args.routing {
        let r =
            crate::bench_routing::run(&server, token, &dir, args.seconds, args.concurrency).await;
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
        return r;
    }
    if args.mail {
        let r =
            crate::bench_mail::run(&server, token, &dir, args.seconds, args.postgres.as_deref())
                .await;
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
        return r;
    }

    let exe = std::env::current_exe()?;

    let backend = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite (WAL, synced before each answer)"
    };
    println!(
        "# seva bench — {backend}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // The yardstick (see below) is measured before the creates and after them; its mean
    // is steadier on a shared machine than one measurement.
    let yardstick = {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(["bench", "--bare-server"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        listening(cmd).await?
    };
    let bare_before = trivial_rate(&yardstick.addr, &token, args.concurrency, "/", 2).await?;
    let counter = Arc::new(AtomicU64::new(0));
    let mut client = Client::connect(&server.addr, token.clone()).await?;
    let before = metrics(&mut client).await?;
    let cpu_before = thread_cpu(server.pid);
    let own_before = stat_cpu(std::path::Path::new("/proc/self/stat")).map(|(_, s)| s);
    let machine_before = machine_ticks();
    let started = Instant::now();
    let (ok, failed, lat) = create_load(
        &server.addr,
        token.clone(),
        args.concurrency,
        started + Duration::from_secs(args.seconds),
        u64::MAX,
        counter.clone(),
        None,
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let own_after = stat_cpu(std::path::Path::new("/proc/self/stat")).map(|(_, s)| s);
    let machine_after = machine_ticks();
    println!(
        "| conversations created per second (concurrency {}, {} s) | {:.0}/s ({} ok, {} failed) |",
        args.concurrency,
        args.seconds,
        ok as f64 / secs,
        ok,
        failed
    );
    println!(
        "| create latency p50 / p99 | {} / {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    if let (Some(a), Some(b), Some((busy_a, all_a)), Some((busy_b, all_b))) =
        (own_before, own_after, machine_before, machine_after)
        && ok > 0
        && all_b > all_a
    {
        println!(
            "| machine busy during the creates (both cores), the load tool's CPU per create | {:.0}%, {:.0} µs |",
            100.0 * (busy_b - busy_a) as f64 / (all_b - all_a) as f64,
            1e6 * (b - a) / ok as f64
        );
    }
    let after = metrics(&mut client).await?;
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let commits = delta("seva_sqlite_commits_total");
    if commits > 0.0 {
        let syncs = delta("seva_sqlite_syncs_total").max(1.0);
        println!(
            "| group commit: writes per commit, writer busy, syncs per second, time per sync | {:.1}, {:.0}%, {:.0}/s, {:.2} ms |",
            delta("seva_sqlite_writes_total") / commits,
            100.0 * delta("seva_sqlite_writer_busy_seconds_total") / secs,
            syncs / secs,
            1000.0 * delta("seva_sqlite_sync_seconds_total") / syncs,
        );
        // A create's time, on average, as the store saw it and as the client did: what
        // the store does not account for is HTTP, the tasks' turns on the workers and the
        // client itself.
        let writes = delta("seva_sqlite_writes_total").max(1.0);
        let per_write = |name: &str| 1e6 * delta(name) / writes;
        let client =
            1e6 * lat.iter().map(Duration::as_secs_f64).sum::<f64>() / lat.len().max(1) as f64;
        println!(
            "| a create's mean time (µs): the writer's queue + its batch + waiting for the sync + the sync; the store's call to answer; the client's | {:.0} + {:.0} + {:.0} + {:.0}; {:.0}; {:.0} |",
            per_write("seva_sqlite_write_queued_seconds_total"),
            per_write("seva_sqlite_write_batched_seconds_total"),
            per_write("seva_sqlite_write_sync_waited_seconds_total"),
            per_write("seva_sqlite_write_synced_seconds_total"),
            per_write("seva_sqlite_write_answered_seconds_total"),
            client,
        );
    }
    // The search index runs behind the creates at a lower priority: how far behind.
    let behind_since = Instant::now();
    loop {
        let behind = *metrics(&mut client)
            .await?
            .get("seva_search_behind_events")
            .context("/metrics has no seva_search_behind_events")? as u64;
        if behind == 0 {
            break;
        }
        if behind_since.elapsed() > Duration::from_secs(300) {
            bail!("the search index is still {behind} events behind after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "| search index complete after the last create | {:.2} s |",
        behind_since.elapsed().as_secs_f64()
    );
    // After the index has caught up, so that its share is counted whole.
    let cpu_after = thread_cpu(server.pid);
    if ok > 0 {
        let per_create = |g: &str| {
            1e6 * (cpu_after.get(g).copied().unwrap_or(0.0)
                - cpu_before.get(g).copied().unwrap_or(0.0))
                / ok as f64
        };
        let total: f64 = cpu_after.keys().map(|g| per_create(g)).sum();
        let parts: Vec<String> = cpu_after
            .keys()
            .map(|g| format!("{g} {:.0}", per_create(g)))
            .collect();
        println!(
            "| server CPU per create, by thread (µs; the search index runs behind; ended: threads gone by the end, tantivy's indexing threads) | {total:.0}: {} |",
            parts.join(", ")
        );
    }

    // The machine's own yardstick, with the same client and concurrency: the issue's
    // 10,000/s target was set where a trivial axum handler served about 57,000 requests/s.
    // The ratio follows the machine, but also the client: a leaner client serves the
    // trivial handler faster and the creates hardly faster (`--load-tools` shows it with
    // two others). Seva's own /healthz passes through its middleware (metrics, headers,
    // body limits), so it is shown too.
    let bare_after = trivial_rate(&yardstick.addr, &token, args.concurrency, "/", 2).await?;
    let bare = (bare_before + bare_after) / 2.0;
    let healthz = trivial_rate(&server.addr, &token, args.concurrency, "/healthz", 3).await?;
    let rate = ok as f64 / secs;
    println!(
        "| trivial axum handler per second (a process of its own; before / after the creates), same client and concurrency | {bare:.0}/s ({bare_before:.0} / {bare_after:.0}); creates are {:.1}% of it (the issue's target is 17.5%: 10,000 of 57,000) |",
        100.0 * rate / bare
    );
    println!(
        "| Seva's /healthz per second, through its middleware | {healthz:.0}/s; creates are {:.1}% of it |",
        100.0 * rate / healthz
    );
    if args.load_tools {
        let created = crate::bench_tools::shares(
            &yardstick.addr,
            &server.addr,
            &token,
            args.concurrency,
            args.seconds,
            &dir,
        )
        .await?;
        counter.fetch_add(created, Ordering::Relaxed);
    }
    drop(yardstick);

    let seeding = Instant::now();
    let remaining_start = counter.load(Ordering::Relaxed);
    if remaining_start < args.conversations {
        create_load(
            &server.addr,
            token.clone(),
            args.concurrency,
            Instant::now() + Duration::from_secs(3600),
            args.conversations,
            counter.clone(),
            None,
        )
        .await?;
    }
    // The creates above may have made more than asked for: the reads are at what is held.
    let held = counter.load(Ordering::Relaxed).max(args.conversations);
    println!(
        "| seeded to {} conversations in | {:.1} s |",
        args.conversations,
        seeding.elapsed().as_secs_f64()
    );

    let list_cpu_before: f64 = thread_cpu(server.pid).values().sum();
    let deadline = Instant::now() + Duration::from_secs(args.read_seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (addr, token) = (server.addr.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&addr, token).await?;
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _) = client
                    .send(
                        "GET",
                        "/api/v1/conversations?status=open,pending,on_hold&limit=50",
                        None,
                    )
                    .await?;
                if status != 200 {
                    bail!("list answered {status}");
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let list_cpu = thread_cpu(server.pid).values().sum::<f64>() - list_cpu_before;
    lat.sort();
    println!(
        "| inbox list (50 open, {} readers) p50 / p99 at {} conversations | {} / {} ({:.0} lists/s) |",
        args.concurrency,
        held,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        lat.len() as f64 / args.read_seconds as f64
    );
    if !lat.is_empty() {
        println!(
            "| server CPU per inbox list (all threads) | {:.0} µs |",
            1e6 * list_cpu / lat.len() as f64
        );
    }
    // The other orders sort what the filter leaves instead of reading an index in order:
    // one reader, one list at a time.
    for sort in ["newest", "oldest", "priority"] {
        let mut lat = Vec::new();
        for _ in 0..40 {
            let t = Instant::now();
            let path =
                format!("/api/v1/conversations?status=open,pending,on_hold&limit=50&sort={sort}");
            let (status, _) = client.send("GET", &path, None).await?;
            if status != 200 {
                bail!("list sorted by {sort} answered {status}");
            }
            lat.push(t.elapsed());
        }
        lat.sort();
        println!(
            "| inbox list sorted by {sort} (one reader) p50 / p99 at {} conversations | {} / {} |",
            held,
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
        );
    }
    search_latency(&mut client, held).await?;
    erase_one(&mut client, held).await?;
    if let Some(kib) = idle_rss {
        println!(
            "| resident memory of seva serve, idle after start | {:.1} MB |",
            kib as f64 / 1024.0
        );
    }
    if let Some(kib) = rss_kib(server.pid) {
        println!(
            "| resident memory after the run | {:.1} MB |",
            kib as f64 / 1024.0
        );
    }
    let size = std::fs::metadata(&exe)?.len();
    println!(
        "| binary size ({}) | {:.1} MB |",
        exe.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A customer's erasure (one of the bench's 5,000, with about one conversation in 5,000
/// of the desk's): one transaction on the writer, which every other write waits behind.
async fn erase_one(client: &mut Client, conversations: u64) -> Result<()> {
    let (status, found) = client
        .send("GET", "/api/v1/contacts?q=customer7%40example.com", None)
        .await?;
    let found: serde_json::Value = serde_json::from_slice(&found)?;
    let Some(id) = found[0]["id"].as_str().filter(|_| status == 200) else {
        bail!("the customer to erase was not found: {status} {found}");
    };
    // The writer's busy time shows its stall (on SQLite: nothing else writes meanwhile);
    // the call's own time adds the walk done on a reader first.
    let busy = |m: &std::collections::HashMap<String, f64>| {
        m.get("seva_sqlite_writer_busy_seconds_total").copied()
    };
    let before = busy(&metrics(client).await?);
    let t = Instant::now();
    let (status, erased) = client
        .send("DELETE", &format!("/api/v1/contacts/{id}"), None)
        .await?;
    let took = t.elapsed();
    let after = busy(&metrics(client).await?);
    let erased: serde_json::Value = serde_json::from_slice(&erased)?;
    if status != 200 {
        bail!("the erasure answered {status}: {erased}");
    }
    let writer = match (before, after) {
        (Some(b), Some(a)) => format!("; the writer busy {:.1} ms of it", 1e3 * (a - b)),
        _ => String::new(),
    };
    println!(
        "| erasing one customer ({} conversations, {} messages) at {conversations} conversations | {}{writer} |",
        erased["conversations"],
        erased["messages"],
        ms(took)
    );
    Ok(())
}

/// What an agent types in the desk's search box, in each language of [`TEXTS`]: every
/// one matches a quarter of the conversations.
const SEARCHES: &[&str] = &["kettle arrived", "ఆర్డర్", "παραγγελία εβδομάδες", "linggo"];

/// Message search as the desk's search box and the API run it (50 results of the
/// conversations the agent may see, with snippets), once the index holds every
/// conversation: one client, one query at a time.
async fn search_latency(client: &mut Client, conversations: u64) -> Result<()> {
    let since = Instant::now();
    while *metrics(client)
        .await?
        .get("seva_search_behind_events")
        .unwrap_or(&0.0)
        > 0.0
    {
        if since.elapsed() > Duration::from_secs(300) {
            bail!("the search index is still behind after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lat = Vec::new();
    for n in 0..400 {
        let q = SEARCHES[n % SEARCHES.len()];
        let path = format!(
            "/api/v1/search?kind=messages&limit=50&q={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let t = Instant::now();
        let (status, _) = client.send("GET", &path, None).await?;
        if status != 200 {
            bail!("search answered {status}");
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "| message search (the desk's search box: 50 results with snippets, each conversation checked for the agent), one client, at {conversations} conversations: p50 / p99 | {} / {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    Ok(())
}

/// The server's `/metrics`, by name (samples without labels).
async fn metrics(client: &mut Client) -> Result<std::collections::HashMap<String, f64>> {
    let (status, body) = client.send("GET", "/metrics", None).await?;
    if status != 200 {
        bail!("/metrics answered {status}");
    }
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect())
}
