//! Live chat: the visitor's side of the chat protocol (version 1, JSON frames over a
//! WebSocket at `/chat/v1/ws?inbox=…`), and the widget script that speaks it. The
//! protocol is described in docs/chat.md. A message is acknowledged only once it is
//! committed; a reconnecting client says the last sequence number it has and gets what
//! came after, once.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use seva_core::InboxId;
use seva_core::conversation::Channel;
use seva_store::chat::{self, Visitor};
use seva_store::inboxes::Inbox;
use seva_store::op;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use seva_core::ConversationId;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use crate::Shared;
use crate::api::ApiQuery;
use crate::auth::{new_secret, sha256_hex};
use crate::problem::Problem;

/// The protocol version this server speaks.
pub const VERSION: i64 = 1;
/// The largest frame a client may send; a bigger one is refused with an error frame.
pub const MAX_FRAME: usize = 16 * 1024;
/// How long a new connection has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How often a waiting visitor's place is looked at again after others' changes.
const QUEUE_CHECK: Duration = Duration::from_millis(500);
/// The changes that can move a queue.
const QUEUE_EVENTS: &[&str] = &[
    "conversation.created",
    "conversation.assigned",
    "conversation.status_changed",
    "conversation.priority_changed",
    "conversation.team_changed",
];
/// How long a waiting visitor may be gone before the chat counts as abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);
/// How often the server pings; a client silent for three of these is gone.
const HEARTBEAT: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
pub struct WsQuery {
    inbox: String,
}

/// What an inbox of the chat channel says about its widget (`settings` in the API).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Origins (`https://shop.example`) whose pages may open visitor sessions. Empty: only
    /// pages served by Seva itself.
    pub allowed_origins: Vec<String>,
    /// Ask for an email address before the first message.
    pub require_email: bool,
    /// A greeting per language (`{"en": "Hello!", "te": "నమస్కారం!"}`).
    pub greeting: std::collections::BTreeMap<String, String>,
    /// What the widget says when nobody is online (outside business hours, say), per
    /// language; without one, Seva's own words.
    pub away_message: std::collections::BTreeMap<String, String>,
    /// The launcher's and the visitor's bubbles' colour (`#0b5cad`).
    pub colour: Option<String>,
    /// The answering bot, which takes new chats before a person does.
    pub bot: crate::bot::BotSettings,
    /// The email inbox (by name) that sends agents' answers the visitor has not read in
    /// the chat within `email_after_seconds`: the answer by email for a visitor who wrote
    /// while nobody was online, or who left. None: answers wait in the chat.
    pub email_inbox: Option<String>,
    /// How long an answer may stay unread in the chat before it goes by email (120).
    pub email_after_seconds: Option<u32>,
}

impl ChatSettings {
    pub fn email_after(&self) -> Duration {
        self.email_after_seconds
            .map_or(crate::mail::chat::DEFAULT_AFTER, |s| {
                Duration::from_secs(u64::from(s))
            })
    }
}

/// Refuses settings that would never work: an origin that is not `scheme://host[:port]`,
/// a colour that is not `#rrggbb`, a greeting in a language we do not have.
pub fn check_settings(v: &Value) -> Result<(), Problem> {
    let s: ChatSettings = serde_json::from_value(v.clone()).unwrap_or_default();
    for (i, o) in s.allowed_origins.iter().enumerate() {
        let ok = o.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', ' '])
        });
        if !ok {
            return Err(Problem::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("settings.allowed_origins[{i}]"),
                "an origin is scheme://host[:port], such as https://shop.example",
            ));
        }
    }
    if let Some(c) = &s.colour
        && !(c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit()))
    {
        return Err(Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "settings.colour",
            "a colour is #rrggbb",
        ));
    }
    for (name, texts) in [("greeting", &s.greeting), ("away_message", &s.away_message)] {
        if let Some(lang) = texts
            .keys()
            .find(|l| !crate::i18n::LANGUAGES.iter().any(|(x, _)| x == l))
        {
            return Err(Problem::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("settings.{name}.{lang}"),
                "one text per language: en, te, el or tl",
            ));
        }
    }
    if s.email_after_seconds.is_some_and(|n| n == 0 || n > 86_400) {
        return Err(Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "settings.email_after_seconds",
            "from 1 second to a day (86400)",
        ));
    }
    crate::bot::check_settings(&s.bot)
}

pub(crate) fn settings_of(inbox: &Inbox) -> ChatSettings {
    serde_json::from_value(inbox.settings.clone()).unwrap_or_default()
}

/// Whether a page of `origin` may open a session with this inbox. A client that sends
/// no Origin is no browser page (browsers always send it on WebSocket requests).
fn origin_allowed(settings: &ChatSettings, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest == host)
        });
    own || settings
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

pub async fn ws(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Problem> {
    let inbox = chat_inbox(&state, &q.inbox, &headers).await?;
    let settings = settings_of(&inbox);
    let language = language_of(&headers);
    // An agent's desk opens sessions too, signed in by its login (or an API token), and
    // only from Seva's own pages: a cookie must not let another site's page speak for it.
    let agent = crate::auth::authenticate(&state, &headers)
        .await
        .ok()
        .flatten()
        .filter(|_| own_origin(&headers));
    Ok(upgrade
        .max_message_size(4 * MAX_FRAME)
        // Small buffers: thousands of sessions are mostly idle.
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .on_upgrade(move |socket| async move {
            let mut session =
                Session::new(state, inbox, settings, language, Out::Ws(Box::new(socket)));
            session.agent = agent;
            session.run().await
        }))
}

/// A message frame's client id (1 to 100 characters) and text, a visitor's or an agent's.
fn message_fields(frame: &Value) -> Result<(String, String), &'static str> {
    let client_id = frame["client_id"]
        .as_str()
        .filter(|c| !c.is_empty() && c.len() <= 100)
        .ok_or("a message needs a client_id (1 to 100 characters)")?;
    let text = frame["text"].as_str().unwrap_or("").trim();
    if text.is_empty() {
        return Err("a message needs text");
    }
    Ok((client_id.to_string(), text.to_string()))
}

/// Whether the request comes from one of Seva's own pages (or from no page at all: a
/// program, which authenticates with a token).
fn own_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest == host)
        })
}

/// The visitor's language, from their browser's.
fn language_of(headers: &HeaderMap) -> &'static str {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|l| l.to_str().ok())
        .map(|l| crate::i18n::Tr::negotiate(l).lang)
        .unwrap_or("en")
}

/// Where a session's frames go.
enum Out {
    Ws(Box<WebSocket>),
    /// The fallback where WebSocket is blocked: frames go to a server-sent event stream.
    Stream(tokio::sync::mpsc::Sender<String>),
    /// One frame posted over HTTP: what it answers is collected for the response.
    Collect(Vec<Value>),
}

/// What came from the client, or that it went away.
enum Incoming {
    Frame(WsMessage),
    Gone,
}

impl Out {
    async fn incoming(&mut self) -> Incoming {
        match self {
            Out::Ws(socket) => match socket.recv().await {
                Some(Ok(m)) => Incoming::Frame(m),
                _ => Incoming::Gone,
            },
            Out::Stream(tx) => {
                tx.closed().await;
                Incoming::Gone
            }
            Out::Collect(_) => std::future::pending().await,
        }
    }
}

/// What wakes one session: a change to its conversation, or (while it waits) a change
/// that can move a queue.
#[derive(Default)]
struct Signal {
    notify: Notify,
    changed: AtomicBool,
    queue: AtomicBool,
    /// Someone's presence on the conversation changed (an agent writing a reply).
    typing: AtomicBool,
}

impl Signal {
    fn raise(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

/// The sessions following one conversation, by their number.
type Watchers = Vec<(u64, Arc<Signal>)>;

/// Hands committed changes to the sessions they concern, so that a change wakes only its
/// conversation's sessions (and the waiting ones, for a queue change), not every open
/// session on the node.
#[derive(Default)]
pub struct Hub {
    next: AtomicU64,
    by_conversation: Mutex<HashMap<ConversationId, Watchers>>,
    waiting: Mutex<HashMap<u64, Arc<Signal>>>,
}

impl Hub {
    /// Follows the store's committed events for as long as the server runs.
    pub async fn run(state: Shared) {
        let mut events = state.store.subscribe();
        let mut presence = state.presence.subscribe();
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                p = presence.recv() => {
                    if let Ok(c) = p
                        && let Ok(map) = state.chat.by_conversation.lock()
                        && let Some(list) = map.get(&c)
                    {
                        list.iter().for_each(|(_, s)| s.raise(&s.typing));
                    }
                    continue;
                }
            };
            match event {
                Ok(e) => {
                    let hub = &state.chat;
                    if let Some(c) = e.conversation_id
                        && let Ok(map) = hub.by_conversation.lock()
                        && let Some(list) = map.get(&c)
                    {
                        list.iter().for_each(|(_, s)| s.raise(&s.changed));
                    }
                    if QUEUE_EVENTS.contains(&e.kind.as_str())
                        && let Ok(waiting) = hub.waiting.lock()
                    {
                        waiting.values().for_each(|s| s.raise(&s.queue));
                    }
                }
                // Too far behind to know what changed: everyone looks again.
                Err(RecvError::Lagged(_)) => {
                    if let Ok(map) = state.chat.by_conversation.lock() {
                        map.values()
                            .flatten()
                            .for_each(|(_, s)| s.raise(&s.changed));
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Whether a session on this node follows the conversation.
    fn followed(&self, c: ConversationId) -> bool {
        self.by_conversation
            .lock()
            .is_ok_and(|m| m.contains_key(&c))
    }

    fn watch(&self, id: u64, c: ConversationId, s: &Arc<Signal>) {
        if let Ok(mut map) = self.by_conversation.lock() {
            map.entry(c).or_default().push((id, s.clone()));
        }
    }

    fn unwatch(&self, id: u64, c: ConversationId) {
        if let Ok(mut map) = self.by_conversation.lock()
            && let Some(list) = map.get_mut(&c)
        {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                map.remove(&c);
            }
        }
    }

    fn set_waiting(&self, id: u64, s: &Arc<Signal>, waiting: bool) {
        if let Ok(mut w) = self.waiting.lock() {
            if waiting {
                w.insert(id, s.clone());
            } else {
                w.remove(&id);
            }
        }
    }
}

/// A session's place in the hub, taken out when the session ends.
struct Registration {
    state: Shared,
    id: u64,
    signal: Arc<Signal>,
    watched: Option<ConversationId>,
}

impl Registration {
    fn new(state: &Shared) -> Self {
        Registration {
            state: state.clone(),
            id: state.chat.next.fetch_add(1, Ordering::Relaxed),
            signal: Arc::default(),
            watched: None,
        }
    }

    fn watch(&mut self, c: Option<ConversationId>) {
        if self.watched == c {
            return;
        }
        if let Some(old) = self.watched.take() {
            self.state.chat.unwatch(self.id, old);
        }
        if let Some(new) = c {
            self.state.chat.watch(self.id, new, &self.signal);
        }
        self.watched = c;
    }

    fn waiting(&self, waiting: bool) {
        self.state.chat.set_waiting(self.id, &self.signal, waiting);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.watch(None);
        self.waiting(false);
    }
}

struct Session {
    hub: Registration,
    state: Shared,
    inbox: Inbox,
    settings: ChatSettings,
    language: &'static str,
    out: Out,
    visitor: Option<Visitor>,
    /// The last sequence number sent to the client.
    cursor: i64,
    /// The queue place last told, to tell only changes.
    place: Option<Option<chat::Place>>,
    /// Whether an agent was online, as last told.
    online: bool,
    /// The agent writing a reply, as last told.
    agent_typing: Option<String>,
    /// The last sequence number told as seen by an agent.
    seen_told: i64,
    /// The visitor was told their conversation ended.
    ended: bool,
    /// The visitor asked for a person before writing: their chat skips the bot.
    person_asked: bool,
    /// The agent signed in on this connection, if one is (their desk, or a program).
    agent: Option<crate::auth::Caller>,
    /// The conversation an agent's session follows, once it said hello.
    agent_on: Option<ConversationId>,
}

/// Why a session ends.
enum End {
    Gone,
    Close(u16, &'static str),
}

impl Session {
    fn new(
        state: Shared,
        inbox: Inbox,
        settings: ChatSettings,
        language: &'static str,
        out: Out,
    ) -> Self {
        Session {
            hub: Registration::new(&state),
            state,
            inbox,
            settings,
            language,
            out,
            visitor: None,
            cursor: 0,
            place: None,
            online: false,
            agent_typing: None,
            seen_told: 0,
            ended: false,
            person_asked: false,
            agent: None,
            agent_on: None,
        }
    }

    async fn run(mut self) {
        let signal = self.hub.signal.clone();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.reset();
        let mut silent = 0u32;
        // Others' changes can move a waiting visitor up the queue: looked at twice a second
        // at most, and only while waiting.
        let mut queue_moved = false;
        let mut queue_check = tokio::time::interval(QUEUE_CHECK);
        let hello_by = tokio::time::Instant::now() + HELLO_WITHIN;
        let end = loop {
            let step = tokio::select! {
                frame = self.out.incoming() => match frame {
                    Incoming::Frame(WsMessage::Text(text)) => { silent = 0; self.frame(text.as_str()).await }
                    Incoming::Frame(WsMessage::Binary(_)) => self.error("bad_frame", "frames are JSON text").await,
                    Incoming::Frame(WsMessage::Close(_)) | Incoming::Gone => Err(End::Gone),
                    Incoming::Frame(_) => { silent = 0; Ok(()) } // ping and pong
                },
                _ = signal.notify.notified() => {
                    queue_moved |= signal.queue.swap(false, Ordering::AcqRel);
                    let typing = if signal.typing.swap(false, Ordering::AcqRel) {
                        self.tell_typing().await
                    } else {
                        Ok(())
                    };
                    if typing.is_ok() && signal.changed.swap(false, Ordering::AcqRel) {
                        self.catch_up().await
                    } else {
                        typing
                    }
                }
                _ = queue_check.tick(), if queue_moved => {
                    queue_moved = false;
                    self.catch_up().await
                }
                _ = heartbeat.tick() => {
                    silent += 1;
                    if silent > 3 && matches!(self.out, Out::Ws(_)) {
                        Err(End::Gone)
                    } else {
                        self.ping().await
                    }
                }
                _ = tokio::time::sleep_until(hello_by), if self.visitor.is_none() && matches!(self.out, Out::Ws(_)) => {
                    Err(End::Close(4000, "no hello"))
                }
            };
            if let Err(end) = step {
                break end;
            }
        };
        if let (End::Close(code, reason), Out::Ws(socket)) = (end, &mut self.out) {
            let _ = socket
                .send(WsMessage::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
        }
        // A visitor who goes while still waiting and does not come back within a minute
        // (a reload or the next page of the site reconnects sooner) abandoned the chat.
        if let (Some(c), true) = (self.conversation(), matches!(self.place, Some(Some(_)))) {
            let state = self.state.clone();
            drop(self.hub);
            tokio::spawn(async move {
                tokio::time::sleep(ABANDONED_AFTER).await;
                if !state.chat.followed(c) {
                    let _ = state
                        .store
                        .write(op!(s => chat::abandoned(s, c).await))
                        .await;
                }
            });
        }
    }

    fn conversation(&self) -> Option<seva_core::ConversationId> {
        self.agent_on
            .or_else(|| self.visitor.as_ref().and_then(|v| v.conversation_id))
    }

    async fn ping(&mut self) -> Result<(), End> {
        match &mut self.out {
            Out::Ws(socket) => socket
                .send(WsMessage::Ping(Vec::new().into()))
                .await
                .map_err(|_| End::Gone),
            Out::Stream(_) => self.json(json!({"type": "ping"})).await,
            Out::Collect(_) => Ok(()),
        }
    }

    async fn json(&mut self, v: Value) -> Result<(), End> {
        match &mut self.out {
            Out::Ws(socket) => socket
                .send(WsMessage::Text(v.to_string().into()))
                .await
                .map_err(|_| End::Gone),
            Out::Stream(tx) => tx.send(v.to_string()).await.map_err(|_| End::Gone),
            Out::Collect(frames) => {
                frames.push(v);
                Ok(())
            }
        }
    }

    async fn error(&mut self, code: &str, detail: &str) -> Result<(), End> {
        self.json(json!({"type": "error", "code": code, "detail": detail}))
            .await
    }

    /// A message with this client id was not stored: no ack, so the client keeps it and
    /// sends it again.
    async fn not_stored(&mut self, client_id: &str, detail: &str) -> Result<(), End> {
        self.json(json!({"type": "error", "code": "not_stored", "client_id": client_id, "detail": detail}))
            .await
    }

    async fn frame(&mut self, text: &str) -> Result<(), End> {
        if text.len() > MAX_FRAME {
            return self
                .error(
                    "too_large",
                    &format!("frames are at most {MAX_FRAME} bytes"),
                )
                .await;
        }
        let frame: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return self.error("bad_frame", "a frame is a JSON object").await,
        };
        let kind = frame["type"].as_str().unwrap_or("");
        let said_hello = self.visitor.is_some() || self.agent_on.is_some();
        if said_hello && self.agent_on.is_some() {
            return self.agent_frame(kind, &frame).await;
        }
        match (kind, said_hello) {
            // Visitors and agents alike speak this version.
            ("hello", false) if frame["v"].as_i64() != Some(VERSION) => {
                self.error("version", &format!("this server speaks version {VERSION}"))
                    .await
            }
            ("hello", false) if frame["as"] == "agent" => self.agent_hello(&frame).await,
            ("hello", false) => self.hello(&frame).await,
            ("hello", true) => self.error("bad_frame", "hello was already said").await,
            ("ping", _) => self.json(json!({"type": "pong"})).await,
            (_, false) => self.error("hello_first", "say hello first").await,
            ("message", true) => self.message(&frame).await,
            ("contact", true) => self.contact(&frame).await,
            ("resume", true) => {
                self.cursor = frame["after"].as_i64().unwrap_or(0).max(0);
                self.catch_up().await
            }
            ("read", true) => {
                if let (Some(c), Some(seq)) = (self.conversation(), frame["seq"].as_i64())
                    && let Err(e) = self
                        .state
                        .store
                        .write(op!(s => chat::read(s, c, seq).await))
                        .await
                {
                    tracing::warn!(error = %e, "could not record a chat read");
                }
                Ok(())
            }
            ("typing", true) => {
                if let Some(c) = self.conversation() {
                    let name = self.visitor.as_ref().and_then(|v| v.name.clone());
                    self.state
                        .presence
                        .customer_typing(c, name.as_deref().unwrap_or(""));
                }
                Ok(())
            }
            ("handoff", true) => {
                self.person_asked = true;
                if let Some(c) = self.conversation() {
                    let lang = frame["lang"].as_str().unwrap_or("en").to_string();
                    if let Err(e) = crate::bot::person_asked(&self.state, c, &lang).await {
                        tracing::warn!(error = %e, "could not hand a chat over to a person");
                        return self.error("unavailable", "try again").await;
                    }
                }
                Ok(())
            }
            ("leave", true) => {
                if let Some(c) = self.conversation() {
                    let _ = self
                        .state
                        .store
                        .write(op!(s => chat::abandoned(s, c).await))
                        .await;
                }
                Err(End::Close(1000, "bye"))
            }
            _ => {
                self.error("unknown_type", &format!("no frame of type {kind:?}"))
                    .await
            }
        }
    }

    async fn hello(&mut self, frame: &Value) -> Result<(), End> {
        let inbox = self.inbox.id;
        let text = |k: &str| {
            frame[k]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut new_token = None;
        let visitor = match text("token") {
            Some(token) => {
                let hash = sha256_hex(token.as_bytes());
                match self
                    .state
                    .store
                    .read(op!(c => chat::visitor(c, inbox, &hash).await))
                    .await
                {
                    Ok(Some(v)) => v,
                    Ok(None) => {
                        self.error("bad_token", "this token opens no session here")
                            .await?;
                        return Err(End::Close(4001, "bad token"));
                    }
                    Err(_) => return self.error("unavailable", "try again").await,
                }
            }
            None => {
                let (name, email) = (text("name"), text("email"));
                if self.settings.require_email && email.is_none() {
                    return self
                        .error("email_required", "this inbox asks for an email address")
                        .await;
                }
                let token = new_secret();
                let hash = sha256_hex(token.as_bytes());
                match self
                    .state
                    .store
                    .write(op!(c => chat::new_visitor(c, inbox, &hash, name.as_deref(), email.as_deref()).await))
                    .await
                {
                    Ok(v) => {
                        new_token = Some(token);
                        v
                    }
                    Err(seva_store::Error::Invalid { field, message }) => {
                        return self.error("invalid", &format!("{field}: {message}")).await;
                    }
                    Err(_) => return self.error("unavailable", "try again").await,
                }
            }
        };
        self.cursor = frame["after"].as_i64().unwrap_or(0).max(0);
        let email_known = visitor.email.is_some();
        self.visitor = Some(visitor);
        let team = self.inbox.team_id;
        let online = self
            .state
            .store
            .read(op!(c => chat::anyone_online(c, team).await))
            .await
            .unwrap_or(false);
        let in_language = |texts: &std::collections::BTreeMap<String, String>| {
            texts
                .get(self.language)
                .or_else(|| texts.get("en"))
                .cloned()
        };
        let greeting = in_language(&self.settings.greeting);
        let away = in_language(&self.settings.away_message);
        self.online = online;
        self.json(json!({
            "type": "welcome", "v": VERSION, "token": new_token, "agents_online": online,
            "greeting": greeting, "require_email": self.settings.require_email,
            "colour": self.settings.colour,
            "email_answers": self.settings.email_inbox.is_some(), "email_known": email_known,
            "away_message": away,
        }))
        .await?;
        self.catch_up().await
    }

    /// What an agent's session says: answers (acknowledged once committed, once per
    /// client id), that the agent is writing, and where to resume.
    async fn agent_frame(&mut self, kind: &str, frame: &Value) -> Result<(), End> {
        match kind {
            "message" => self.agent_message(frame).await,
            "typing" => {
                if let (Some(c), Some(a)) = (self.agent_on, &self.agent) {
                    self.state.presence.announce(
                        c,
                        a.agent.id,
                        &a.agent.name,
                        crate::presence::State::Replying,
                    );
                }
                Ok(())
            }
            "resume" => {
                self.cursor = frame["after"].as_i64().unwrap_or(0).max(0);
                self.catch_up().await
            }
            "ping" => self.json(json!({"type": "pong"})).await,
            "hello" => self.error("bad_frame", "hello was already said").await,
            other => {
                self.error("unknown_type", &format!("no agent frame of type {other:?}"))
                    .await
            }
        }
    }

    /// An agent's desk follows one chat: `{"type": "hello", "v": 1, "as": "agent",
    /// "conversation": ID, "after": N}` (without `after`, from now on).
    async fn agent_hello(&mut self, frame: &Value) -> Result<(), End> {
        let Some(caller) = self.agent.clone() else {
            self.error(
                "unauthorized",
                "an agent's session needs its login (from Seva's own pages) or an API token",
            )
            .await?;
            return Err(End::Close(4003, "not signed in"));
        };
        let Some(id) = frame["conversation"]
            .as_str()
            .and_then(|s| s.parse::<ConversationId>().ok())
        else {
            return self
                .error("bad_frame", "an agent's hello names its conversation")
                .await;
        };
        let viewer = caller.viewer();
        let inbox = self.inbox.id;
        let found = self
            .state
            .store
            .read(op!(c => {
                let conv = seva_store::conversations::get_for(c, &viewer, id).await?;
                if conv.inbox_id != Some(inbox) {
                    return Err(seva_store::Error::NotFound);
                }
                chat::last_seq(c, id).await
            }))
            .await;
        let last = match found {
            Ok(last) => last,
            Err(seva_store::Error::NotFound) => {
                return self
                    .error("not_found", "no such chat in this inbox for you")
                    .await;
            }
            Err(_) => return self.error("unavailable", "try again").await,
        };
        self.agent_on = Some(id);
        self.cursor = frame["after"].as_i64().unwrap_or(last).max(0);
        self.json(json!({"type": "welcome", "v": VERSION, "as": "agent", "conversation": id}))
            .await?;
        self.catch_up().await
    }

    /// An agent's answer, stored once per client id and acknowledged after its commit.
    async fn agent_message(&mut self, frame: &Value) -> Result<(), End> {
        let (Some(caller), Some(conversation)) = (self.agent.clone(), self.agent_on) else {
            return Err(End::Gone);
        };
        let (client_id, text) = match message_fields(frame) {
            Ok(fields) => fields,
            Err(why) => return self.error("bad_frame", why).await,
        };
        let viewer = caller.viewer();
        let key = format!("{}:{client_id}", caller.agent.id);
        let hash = sha256_hex(text.as_bytes());
        let written = self
            .state
            .store
            .write(op!(c => {
                use seva_store::idempotency;
                if let Some(done) = idempotency::lookup(c, "chat-agent", &key, &hash).await? {
                    return Ok((done.body, true));
                }
                let id = seva_store::conversations::reply(c, &viewer, conversation, seva_store::conversations::Reply {
                    text: &text,
                    kind: seva_core::conversation::MessageKind::Outbound,
                    files: &[],
                    then: None,
                }).await?;
                let done = idempotency::Stored { status: 201, body: id.to_string() };
                idempotency::remember(c, "chat-agent", &key, &hash, &done).await?;
                Ok((done.body, false))
            }))
            .await;
        match written {
            Ok((id, duplicate)) => {
                self.json(
                    json!({"type": "ack", "client_id": client_id, "conversation_id": conversation,
                                 "id": id, "duplicate": duplicate}),
                )
                .await?;
                self.catch_up().await
            }
            Err(seva_store::Error::Invalid { field, message }) => {
                self.error("invalid", &format!("{field}: {message}")).await
            }
            Err(seva_store::Error::Conflict(why)) => self.error("conflict", &why).await,
            Err(e) => {
                tracing::warn!(error = %e, "an agent's chat answer was not stored");
                self.not_stored(&client_id, "the answer was not stored; send it again")
                    .await
            }
        }
    }

    /// The visitor gives their name and email address during the chat, so that answers
    /// they do not read here reach them by email.
    async fn contact(&mut self, frame: &Value) -> Result<(), End> {
        let field = |k: &str| {
            frame[k]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let Some(email) = field("email") else {
            return self
                .error("bad_frame", "a contact frame needs an email")
                .await;
        };
        let name = field("name");
        let visitor = self.visitor.clone().ok_or(End::Gone)?;
        match self
            .state
            .store
            .write(op!(c => chat::give_contact(c, &visitor, name.as_deref(), &email).await))
            .await
        {
            Ok(v) => {
                let email = v.email.clone();
                self.visitor = Some(v);
                self.json(json!({"type": "contact", "email": email})).await
            }
            Err(seva_store::Error::Invalid { field, message }) => {
                self.error("invalid", &format!("{field}: {message}")).await
            }
            Err(_) => self.error("unavailable", "try again").await,
        }
    }

    async fn message(&mut self, frame: &Value) -> Result<(), End> {
        let (client_id, text) = match message_fields(frame) {
            Ok(fields) => fields,
            Err(why) => return self.error("bad_frame", why).await,
        };
        let visitor = self.visitor.clone().ok_or(End::Gone)?;
        let team = self.inbox.team_id;
        let bot = self.settings.bot.enabled && !self.person_asked;
        let cid = client_id.clone();
        match self
            .state
            .store
            .write(op!(c => chat::post(c, &visitor, team, bot, &cid, &text, &[]).await))
            .await
        {
            Ok(stored) => {
                if let Some(v) = self.visitor.as_mut() {
                    v.conversation_id = Some(stored.conversation_id);
                }
                self.json(
                    json!({"type": "ack", "client_id": client_id, "conversation_id": stored.conversation_id, "seq": stored.line.seq,
                                 "id": stored.line.id, "duplicate": stored.duplicate}),
                )
                .await?;
                self.catch_up().await
            }
            Err(e) => {
                tracing::warn!(error = %e, "a chat message was not stored");
                self.not_stored(&client_id, "the message was not stored; send it again")
                    .await
            }
        }
    }

    /// Tells the visitor whether an agent is writing a reply, when that changed, and that
    /// their lines were seen when an agent has the conversation open.
    async fn tell_typing(&mut self) -> Result<(), End> {
        let Some(c) = self.conversation() else {
            return Ok(());
        };
        self.tell_seen().await?;
        let now = match &self.agent {
            // An agent's session hears the customer typing.
            Some(a) if self.agent_on.is_some() => self
                .state
                .presence
                .others(c, a.agent.id)
                .into_iter()
                .find(|p| p.agent_id.is_none())
                .map(|p| p.name),
            _ => self.state.presence.agent_replying(c),
        };
        if now == self.agent_typing {
            return Ok(());
        }
        self.agent_typing = now.clone();
        self.json(json!({"type": "typing", "typing": now.is_some(), "name": now}))
            .await
    }

    /// Tells the visitor that an agent has seen everything up to the last line sent, when
    /// one has the conversation open.
    async fn tell_seen(&mut self) -> Result<(), End> {
        let Some(c) = self.conversation() else {
            return Ok(());
        };
        if self.agent_on.is_none()
            && self.cursor > self.seen_told
            && self.state.presence.agents_on(c)
        {
            self.seen_told = self.cursor;
            self.json(json!({"type": "read", "seq": self.cursor}))
                .await?;
        }
        Ok(())
    }

    /// Sends what the client has not seen yet, then its place in the queue if it changed.
    async fn catch_up(&mut self) -> Result<(), End> {
        let Some(conversation) = self.conversation() else {
            return Ok(());
        };
        // Followed before reading, so that nothing committed after the read is missed.
        self.hub.watch(Some(conversation));
        let after = self.cursor;
        let team = self.inbox.team_id;
        let (lines, chat::Standing { active, place }, online) = match self
            .state
            .store
            .read(op!(c => Ok((
                chat::since(c, conversation, after).await?,
                chat::standing(c, conversation).await?,
                chat::anyone_online(c, team).await?,
            ))))
            .await
        {
            Ok(x) => x,
            Err(e) => {
                // The next change or the client's resume brings it up to date.
                tracing::warn!(error = %e, "could not read what a chat visitor missed");
                return Ok(());
            }
        };
        for line in lines {
            self.cursor = line.seq;
            let files: Vec<Value> = line
                .files
                .iter()
                .map(|f| {
                    json!({"id": f.id, "filename": f.filename, "content_type": f.content_type, "size": f.size,
                           "url": file_link(&self.state, &self.inbox, conversation, f.id)})
                })
                .collect();
            self.json(
                json!({"type": "message", "seq": line.seq, "id": line.id, "from": line.from,
                             "name": line.name, "text": line.text, "at": line.at, "files": files, "client_id": line.client_id}),
            )
            .await?;
        }
        self.tell_seen().await?;
        // Solved or closed by an agent: the visitor is told once; writing again opens a
        // new conversation.
        if active == self.ended {
            self.ended = !active;
            if self.ended {
                self.json(json!({"type": "ended"})).await?;
            }
        }
        if self.place != Some(place) || self.online != online {
            self.place = Some(place);
            self.hub.waiting(place.is_some());
            self.online = online;
            self.json(
                json!({"type": "queue", "position": place.map(|p| p.position),
                             "estimated_wait": place.and_then(|p| p.estimated_wait),
                             "agents_online": online}),
            )
            .await?;
        }
        Ok(())
    }
}

/// The widget script, with its words in every language of the UI.
fn widget_script() -> &'static str {
    static SCRIPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| {
        include_str!("../assets/widget.js")
            .replace("/*STRINGS*/{}", &crate::i18n::widget_strings().to_string())
    })
}

/// The size of the widget script as served, in bytes.
pub fn widget_size() -> usize {
    widget_script().len()
}

pub async fn widget() -> Response {
    let body = widget_script();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The inbox named in the query, if it is a chat inbox the request's page may use.
async fn chat_inbox(state: &Shared, inbox: &str, headers: &HeaderMap) -> Result<Inbox, Problem> {
    let id: InboxId = inbox
        .parse()
        .map_err(|_| Problem::bad_request("inbox", "not an inbox id"))?;
    let inbox = state
        .store
        .read(op!(c => seva_store::inboxes::get(c, id).await))
        .await
        .map_err(|_| Problem::bad_request("inbox", "no such inbox"))?;
    if inbox.channel != Channel::Chat {
        return Err(Problem::bad_request("inbox", "not a chat inbox"));
    }
    if !origin_allowed(&settings_of(&inbox), headers) {
        return Err(Problem::forbidden(
            "this page's origin may not open chats with this inbox",
        ));
    }
    Ok(inbox)
}

/// The visitor holding `token` in `inbox`.
async fn visitor_of(state: &Shared, inbox: InboxId, token: &str) -> Result<Visitor, Problem> {
    let hash = sha256_hex(token.as_bytes());
    state
        .store
        .read(op!(c => chat::visitor(c, inbox, &hash).await))
        .await?
        .ok_or_else(|| {
            Problem::field(
                StatusCode::UNAUTHORIZED,
                "token",
                "this token opens no session here",
            )
        })
}

/// Lets the page that asked read the answer (a widget on another site).
fn for_page(headers: &HeaderMap, response: Response) -> Response {
    let mut response = response;
    if let Some(origin) = headers.get(header::ORIGIN) {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    }
    response
}

/// A visitor's files: a multipart form with the visitor's `token`, a `client_id` and the
/// `files`. They are stored as one message, once per client id, and the answer is the
/// message's ack; the line then comes to the visitor's session as any other.
pub async fn upload(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    multipart: axum::extract::Multipart,
) -> Response {
    let answer = async {
        let inbox = chat_inbox(&state, &q.inbox, &headers).await?;
        let mut form = crate::ui::read_multipart(multipart, state.config.max_attachment_bytes)
            .await
            .map_err(|(field, detail)| Problem::bad_request(field, detail))?;
        let visitor = visitor_of(&state, inbox.id, &form.take("token")).await?;
        let client_id = form.take("client_id");
        if client_id.is_empty() || client_id.len() > 100 {
            return Err(Problem::bad_request("client_id", "1 to 100 characters"));
        }
        if form.files.is_empty() {
            return Err(Problem::bad_request("files", "no file was sent"));
        }
        let text = form
            .files
            .iter()
            .map(|(name, _, _)| format!("📎 {name}"))
            .collect::<Vec<_>>()
            .join("\n");
        let stored = crate::ui::store_uploads(&state, form.files)
            .await
            .map_err(|_| Problem::internal())?;
        let team = inbox.team_id;
        let bot = crate::bot::BotSettings::of(&inbox.settings).enabled;
        let cid = client_id.clone();
        let done = state
            .store
            .write(op!(c => chat::post(c, &visitor, team, bot, &cid, &text, &stored).await))
            .await?;
        Ok::<_, Problem>(
            axum::Json(json!({"type": "ack", "client_id": client_id, "conversation_id": done.conversation_id,
                              "seq": done.line.seq, "id": done.line.id, "duplicate": done.duplicate}))
            .into_response(),
        )
    }
    .await;
    for_page(&headers, answer.unwrap_or_else(IntoResponse::into_response))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    inbox: String,
    token: String,
    #[serde(default)]
    after: i64,
}

/// The fallback where WebSocket is blocked, server to client: the frames a session would
/// send, as server-sent events (`data:` one JSON frame each), from `after` on.
pub async fn events(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let inbox = chat_inbox(&state, &q.inbox, &headers).await?;
        let visitor = visitor_of(&state, inbox.id, &q.token).await?;
        // A slow reader holds up only its own session: it waits when this is full.
        let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
        let settings = settings_of(&inbox);
        let mut session = Session::new(
            state.clone(),
            inbox,
            settings,
            language_of(&headers),
            Out::Stream(tx),
        );
        session.visitor = Some(visitor);
        session.cursor = q.after.max(0);
        tokio::spawn(async move {
            if session.catch_up().await.is_ok() {
                session.run().await;
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| {
                (
                    Ok::<_, std::convert::Infallible>(
                        axum::response::sse::Event::default().data(frame),
                    ),
                    rx,
                )
            })
        });
        Ok::<_, Problem>(axum::response::sse::Sse::new(stream).into_response())
    }
    .await;
    for_page(&headers, answer.unwrap_or_else(IntoResponse::into_response))
}

/// The fallback, client to server: one frame in the body (JSON, sent as text so that no
/// preflight is needed), with the visitor's `token` in it after hello, and `after`, the
/// last sequence number the client has. The answer is the frames the session would send
/// back (welcome, ack, error, lines after `after`), as a JSON list.
pub async fn frames(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let answer = async {
        let inbox = chat_inbox(&state, &q.inbox, &headers).await?;
        if body.len() > MAX_FRAME {
            return Err(Problem::bad_request(
                "body",
                format!("frames are at most {MAX_FRAME} bytes"),
            ));
        }
        let frame: Value = match serde_json::from_str(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(Problem::bad_request("body", "a frame is a JSON object")),
        };
        let settings = settings_of(&inbox);
        let id = inbox.id;
        let mut session = Session::new(
            state.clone(),
            inbox,
            settings,
            language_of(&headers),
            Out::Collect(Vec::new()),
        );
        if frame["type"] != "hello" {
            let token = frame["token"].as_str().unwrap_or("");
            session.visitor = Some(visitor_of(&state, id, token).await?);
        }
        session.cursor = frame["after"].as_i64().unwrap_or(0).max(0);
        // A leave ends the session: nothing more to say than what was collected.
        let _ = session.frame(&body).await;
        let Out::Collect(answers) = std::mem::replace(&mut session.out, Out::Collect(Vec::new()))
        else {
            return Err(Problem::internal());
        };
        Ok(axum::Json(answers).into_response())
    }
    .await;
    for_page(&headers, answer.unwrap_or_else(IntoResponse::into_response))
}

#[derive(Deserialize)]
pub struct FileQuery {
    inbox: String,
    /// The signature of a link the session gave (with `expires`)...
    sig: Option<String>,
    expires: Option<i64>,
    /// ...or the visitor's token, for a client that makes its own links.
    token: Option<String>,
}

/// How long a file link given to a visitor opens the file (a reconnect gives new ones).
const FILE_LINK_SECONDS: i64 = 7 * 86_400;

fn file_mac(
    state: &Shared,
    file: seva_core::AttachmentId,
    conversation: ConversationId,
    expires: i64,
) -> hmac::Hmac<sha2::Sha256> {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&state.key.derive("chat-file"))
        .expect("HMAC takes a key of any length");
    mac.update(format!("{file}:{conversation}:{expires}").as_bytes());
    mac
}

/// A link to a file of the conversation that opens it for a week without the visitor's
/// token, so the token never sits in an address (a browser's history, a proxy's log).
fn file_link(
    state: &Shared,
    inbox: &Inbox,
    conversation: ConversationId,
    file: seva_core::AttachmentId,
) -> String {
    use hmac::Mac;
    let expires = seva_store::now().micros() / 1_000_000 + FILE_LINK_SECONDS;
    let sig = crate::auth::hex(
        &file_mac(state, file, conversation, expires)
            .finalize()
            .into_bytes(),
    );
    format!(
        "/chat/v1/files/{file}?inbox={}&expires={expires}&sig={sig}",
        inbox.id
    )
}

/// A file of the visitor's conversation, for the visitor.
pub async fn file(
    State(state): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiQuery(q): ApiQuery<FileQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let inbox = chat_inbox(&state, &q.inbox, &headers).await?;
    let visitor = match (&q.sig, &q.token) {
        (None, Some(token)) => Some(visitor_of(&state, inbox.id, token).await?),
        (Some(_), _) => None,
        (None, None) => {
            return Err(Problem::field(
                StatusCode::UNAUTHORIZED,
                "sig",
                "a file link needs its signature (or the visitor's token)",
            ));
        }
    };
    let id: seva_core::AttachmentId = id.parse().map_err(|_| Problem::not_found())?;
    let (conversation, file) = state
        .store
        .read(op!(c => seva_store::attachments::for_customer(c, id).await))
        .await?;
    let allowed = match (&visitor, &q.sig, q.expires) {
        (Some(v), _, _) => Some(conversation) == v.conversation_id,
        (None, Some(sig), Some(expires)) => {
            use hmac::Mac;
            let expected = crate::auth::hex(
                &file_mac(&state, id, conversation, expires)
                    .finalize()
                    .into_bytes(),
            );
            // Compared in constant time, so a guess learns nothing from the timing.
            expires >= seva_store::now().micros() / 1_000_000
                && sig.len() == expected.len()
                && sig
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0, |d, (a, b)| d | (a ^ b))
                    == 0
        }
        _ => false,
    };
    // A chat's file belongs to one inbox's conversation: the same 404 for every refusal.
    let conversation_inbox = state
        .store
        .read(op!(c => Ok(seva_store::conversations::get(c, conversation).await?.inbox_id)))
        .await?;
    if !allowed || conversation_inbox != Some(inbox.id) {
        return Err(Problem::not_found());
    }
    crate::api::events::download(&state, &file.sha256, &file.filename).await
}

pub fn router() -> axum::Router<Shared> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/chat/v1/ws", get(ws))
        .route("/chat/v1/files", post(upload))
        .route("/chat/v1/events", get(events))
        .route("/chat/v1/frames", post(frames))
        .route("/chat/v1/files/{id}", get(file))
        .route("/widget.js", get(widget))
}
