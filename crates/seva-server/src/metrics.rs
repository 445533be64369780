//! Health, readiness and Prometheus metrics (text exposition format, written by hand: a
//! handful of counters do not need a metrics framework).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Shared;

#[derive(Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_server_errors: AtomicU64,
    pub conversations_created: AtomicU64,
    pub messages_created: AtomicU64,
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub logins_failed: AtomicU64,
    /// API calls refused because their agent had spent the minute's budget.
    pub api_calls_refused: AtomicU64,
    /// Messages the search index took from the events that created them (this node's).
    pub search_messages_from_events: AtomicU64,
    /// Messages the search index read back from the store.
    pub search_messages_from_store: AtomicU64,
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

pub async fn count_requests(State(state): State<Shared>, req: Request, next: Next) -> Response {
    // Each request's line is a debug one: its method and route are copied only when it
    // will be written. The route pattern, not the path: paths hold ids and customers'
    // secret links.
    let logged = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("unmatched", |p| p.as_str())
            .to_string();
        (req.method().clone(), route, std::time::Instant::now())
    });
    let response = next.run(req).await;
    if let Some((method, route, started)) = logged {
        tracing::debug!(%method, %route, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    }
    state.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    if response.status().is_server_error() {
        state
            .metrics
            .http_server_errors
            .fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// Ready when the database answers.
async fn ready(State(state): State<Shared>) -> Response {
    match state
        .store
        .read(seva_store::op!(c => c.query_one("SELECT 1", &[]).await))
        .await
    {
        Ok(_) => "ready".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database not ready: {e}"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    let m = &state.metrics;
    let counters = [
        (
            "seva_http_requests_total",
            "HTTP requests answered",
            &m.http_requests,
        ),
        (
            "seva_http_server_errors_total",
            "HTTP requests answered with a 5xx status",
            &m.http_server_errors,
        ),
        (
            "seva_conversations_created_total",
            "Conversations opened by customers or the API",
            &m.conversations_created,
        ),
        (
            "seva_messages_created_total",
            "Messages added to conversations",
            &m.messages_created,
        ),
        (
            "seva_jobs_done_total",
            "Background jobs completed",
            &m.jobs_done,
        ),
        (
            "seva_jobs_failed_total",
            "Background job attempts that failed",
            &m.jobs_failed,
        ),
        (
            "seva_logins_failed_total",
            "Failed login attempts",
            &m.logins_failed,
        ),
        (
            "seva_api_calls_refused_total",
            "API calls refused with 429 because their agent was over api_calls_per_minute",
            &m.api_calls_refused,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in counters {
        out += &format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            value.load(Ordering::Relaxed)
        );
    }
    let name = "seva_search_messages_indexed_total";
    out += &format!(
        "# HELP {name} Messages put in the search index, by where they came from: the event that created them, or a read of the store\n# TYPE {name} counter\n{name}{{from=\"event\"}} {}\n{name}{{from=\"store\"}} {}\n",
        m.search_messages_from_events.load(Ordering::Relaxed),
        m.search_messages_from_store.load(Ordering::Relaxed),
    );
    if let Some(w) = state.store.write_stats() {
        for (name, help, value) in [
            (
                "seva_sqlite_commits_total",
                "Transactions the SQLite writer committed",
                w.commits,
            ),
            (
                "seva_sqlite_writes_total",
                "Writes the SQLite writer ran, in batches of one transaction",
                w.writes,
            ),
            (
                "seva_sqlite_writer_busy_seconds_total",
                "Time the SQLite writer spent running batches",
                w.writer_busy_micros,
            ),
            (
                "seva_sqlite_syncs_total",
                "Syncs of the write-ahead log",
                w.syncs,
            ),
            (
                "seva_sqlite_sync_seconds_total",
                "Time spent syncing the write-ahead log",
                w.sync_micros,
            ),
            (
                "seva_sqlite_write_queued_seconds_total",
                "Time writes waited in the writer's queue for their batch, summed over writes",
                w.queued_micros,
            ),
            (
                "seva_sqlite_write_batched_seconds_total",
                "Time writes spent in their batch until its commit, summed over writes",
                w.batched_micros,
            ),
            (
                "seva_sqlite_write_sync_waited_seconds_total",
                "Time committed writes waited for their sync to begin, summed over writes",
                w.sync_waited_micros,
            ),
            (
                "seva_sqlite_write_synced_seconds_total",
                "Time writes spent in their sync, summed over writes",
                w.synced_micros,
            ),
            (
                "seva_sqlite_write_answered_seconds_total",
                "Time from each write's call to its answer, summed over writes",
                w.answered_micros,
            ),
        ] {
            let value = if name.ends_with("_seconds_total") {
                format!("{:.6}", value as f64 / 1e6)
            } else {
                value.to_string()
            };
            out += &format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
        }
    }
    let gauges = state
        .store
        .read(seva_store::op!(c => {
            let open = c.query_one("SELECT count(*) FROM conversations WHERE status IN ('open', 'pending', 'on_hold')", &[]).await?.int(0)?;
            let dead = c.query_one("SELECT count(*) FROM jobs WHERE state = 'dead'", &[]).await?.int(0)?;
            let queued = c.query_one("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')", &[]).await?.int(0)?;
            let last_event = seva_store::events::last_seq(c).await?;
            Ok((open, dead, queued, last_event))
        }))
        .await;
    if let Ok((open, dead, queued, last_event)) = gauges {
        if let Some(index) = state.search.get() {
            let behind = last_event - index.checkpoint().unwrap_or(0);
            let name = "seva_search_behind_events";
            out += &format!(
                "# HELP {name} Events not yet in the search index\n# TYPE {name} gauge\n{name} {}\n",
                behind.max(0)
            );
        }
        for (name, help, v) in [
            (
                "seva_conversations_active",
                "Conversations open, pending or on hold",
                open,
            ),
            ("seva_jobs_dead", "Jobs that ran out of attempts", dead),
            ("seva_jobs_waiting", "Jobs queued or running", queued),
        ] {
            out += &format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n");
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}
