//! Seva's server: the HTTP API, the agent pages and public forms, the realtime stream, and
//! the background workers, wired to the store.

pub mod api;
pub mod auth;
pub mod bot;
pub mod chat;
pub mod config;
mod drain;
pub mod files;
pub mod i18n;
pub mod knowledge;
pub mod live;
pub mod mail;
pub mod metrics;
pub mod presence;
pub mod problem;
pub mod search;
pub mod secrets;
pub mod two_step;
pub mod ui;
pub mod webhooks;
pub mod workers;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt;
use seva_core::ratelimit::{Budget, SlidingWindow};
use seva_store::Store;

pub use config::Config;

/// Everything a request handler may need, shared by all of them.
pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub metrics: metrics::Metrics,
    /// Failed logins by address and by account.
    pub login_failures: Mutex<SlidingWindow<String>>,
    /// Web-form submissions by address.
    pub form_posts: Mutex<SlidingWindow<String>>,
    /// API calls by agent.
    pub api_calls: Mutex<Budget<seva_core::AgentId>>,
    pub tokens: auth::TokenCache,
    /// Seals inbox secrets and signs reply addresses.
    pub key: secrets::Key,
    /// Who is on which conversation now (this node only).
    pub presence: presence::Presence,
    /// Open desks (live streams) per agent on this node, for their presence.
    pub desks: Mutex<std::collections::HashMap<seva_core::AgentId, usize>>,
    /// Live chat sessions on this node, by the conversation they follow.
    pub chat: chat::Hub,
    /// This node's search index, once `serve` has opened it.
    pub search: std::sync::OnceLock<Arc<seva_search::SearchIndex>>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(store: Store, config: Config, key: secrets::Key) -> Shared {
        Arc::new(Self {
            key,
            login_failures: Mutex::new(SlidingWindow::new(
                config.login_failures_per_window,
                15 * 60,
            )),
            form_posts: Mutex::new(SlidingWindow::new(config.form_submissions_per_hour, 3600)),
            api_calls: Mutex::new(Budget::new(config.api_calls_per_minute)),
            metrics: metrics::Metrics::default(),
            tokens: auth::TokenCache::default(),
            presence: presence::Presence::default(),
            desks: Mutex::new(std::collections::HashMap::new()),
            chat: chat::Hub::default(),
            search: std::sync::OnceLock::new(),
            store,
            config,
        })
    }
}

pub fn router(state: Shared) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(api::router())
        .merge(ui::router())
        .merge(chat::router())
        .merge(metrics::router())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_oversize,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            drain::unread_body,
        ))
        .with_state(state)
}

/// Refuses a body whose declared length is over the limit at once, before reading it: a
/// client announcing 30 MB must not hold a connection while it trickles them in.
async fn refuse_oversize(
    axum::extract::State(state): axum::extract::State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.config.max_body_bytes) {
        return problem::Problem::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} MB",
                state.config.max_body_bytes / (1024 * 1024)
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Headers every answer carries: no MIME sniffing, no referrer leaking secret links, and
/// for pages a policy that allows only our own scripts and styles and no framing (the
/// embeddable form sets its own framing rule).
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        let framing = match h
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
        {
            Some(v) if v.contains("frame-ancestors *") => "frame-ancestors *",
            _ => "frame-ancestors 'none'",
        };
        let policy = format!(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; {framing}"
        );
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// Clears the token cache whenever this process commits a change to agents, teams or
/// tokens; when the event stream lags, clears it to be safe.
async fn forget_tokens_on_change(state: Shared) {
    let mut events = state.store.subscribe();
    loop {
        match events.recv().await {
            Ok(e) if auth::TokenCache::invalidated_by(&e.kind) => state.tokens.clear(),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => state.tokens.clear(),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Opens the store the configuration names.
pub async fn open_store(config: &Config) -> Result<Store, seva_store::Error> {
    match &config.database_url {
        Some(url) => Store::open_postgres(url, 16).await,
        None => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                seva_store::Error::Backend(format!(
                    "cannot create {}: {e}",
                    config.data_dir.display()
                ))
            })?;
            Store::open_sqlite(&config.database_path()).await
        }
    }
}

/// Runs the server until `shutdown` resolves: HTTP on `listener`, SMTP on `smtp` when
/// given, plus the job worker.
pub async fn serve(
    state: Shared,
    listener: tokio::net::TcpListener,
    smtp: Option<(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>)>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some((smtp, tls)) = smtp {
        tokio::spawn(mail::smtp::serve(state.clone(), smtp, tls));
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let indexer = match search::open(&state.config) {
        Ok(index) => {
            let index = Arc::new(index);
            let _ = state.search.set(index.clone());
            Some(tokio::spawn(search::run(state.clone(), index, stopping)))
        }
        // Seva serves without search rather than not at all; `seva reindex` starts afresh.
        Err(e) => {
            tracing::error!(error = %e, "the search index cannot be opened; search is off");
            None
        }
    };
    tokio::spawn(workers::run(state.clone()));
    tokio::spawn(chat::Hub::run(state.clone()));
    tokio::spawn(mail::imap::supervise(state.clone()));
    tokio::spawn(forget_tokens_on_change(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Chat frames and live-stream events are small writes, one after another: with
    // Nagle's algorithm each would wait for the peer's (delayed, up to 40 ms) ACK of the
    // one before. Browsers turn it off on their side; we do on ours.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    // The index commits what it applied before the runtime goes.
    let _ = stop.send(true);
    if let Some(indexer) = indexer
        && tokio::time::timeout(std::time::Duration::from_secs(10), indexer)
            .await
            .is_err()
    {
        tracing::warn!(
            "the search index did not stop within 10 s; it catches up at the next start"
        );
    }
    served
}
