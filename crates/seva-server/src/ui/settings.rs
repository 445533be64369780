//! Settings pages: every agent's email signature, and for admins the inboxes (an email
//! inbox's address, relay, IMAP account, acknowledgement texts, DKIM). Passwords and keys
//! are write-only here as in the API: an empty field keeps the stored one.

use super::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::InboxId;
use seva_core::conversation::Channel;
use seva_store::inboxes::{self, Inbox, InboxFields};
use seva_store::{agents, op, teams};

use super::{Agent, Me, PageError, render};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::mail::{Dkim, EmailSettings, ImapAccount, InboxSecrets, Relay, Security};
use crate::problem::Problem;

#[derive(askama::Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    signature: String,
    is_admin: bool,
    inboxes: Vec<Inbox>,
    saved: bool,
    /// Whether routing gives this agent new conversations (available) or not (away).
    available: bool,
    /// Languages spoken and topics handled, comma-separated; their own chat limit.
    languages_spoken: String,
    skills: String,
    chat_limit: String,
    /// Whether the agent is mailed the notifications they leave unread, after how many
    /// minutes, and whether an inbox sends such mail at all.
    email_notifications: bool,
    notify_minutes: u64,
    notify_sender: bool,
    /// What the mail may be about: each group's key, its words, and whether it is mailed.
    email_groups: Vec<(&'static str, String, bool)>,
    /// Whether they log in with a code after the password.
    two_step: bool,
    /// Where they are logged in: since when, the browser, the address, whether it is this
    /// one.
    sessions: Vec<(String, String, String, bool)>,
}

#[derive(Deserialize)]
pub struct SavedQuery {
    pub saved: Option<String>,
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    headers: axum::http::HeaderMap,
    super::Query(q): super::Query<SavedQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let id = agent.0.agent.id;
    let current = super::session::session_hash(&headers);
    let (signature, inboxes, routing, email_notifications, mailed, sessions) = state
        .store
        .read(op!(c => Ok((
            agents::signature(c, id).await?,
            inboxes::list(c).await?,
            seva_store::routing::agent(c, id).await?,
            agents::email_notifications(c, id).await?,
            agents::email_groups(c, id).await?,
            agents::sessions_of(c, id, &current).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let notify_sender = inboxes.iter().any(crate::mail::notify::sends);
    Ok(render(&SettingsPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        signature,
        is_admin: agent.0.agent.role == seva_core::agent::Role::Admin,
        inboxes,
        saved: q.saved.is_some(),
        available: routing.available,
        languages_spoken: routing.languages.join(", "),
        skills: routing.skills.join(", "),
        chat_limit: routing
            .channel_capacity
            .get(&Channel::Chat)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        email_notifications,
        notify_minutes: state.config.notify_email_after_seconds.div_ceil(60).max(1),
        notify_sender,
        email_groups: seva_store::notifications::EMAIL_GROUPS
            .iter()
            .map(|g| (*g, t.word("notify-group", g), mailed.contains(g)))
            .collect(),
        two_step: agent.0.agent.two_step,
        sessions: sessions
            .into_iter()
            .map(|s| {
                let device = device_name(&s.user_agent);
                (super::short_time(s.created_at), device, s.ip, s.current)
            })
            .collect(),
    }))
}

/// A browser's description of itself, shortened to the browser and the system it runs on
/// ("Firefox · Windows"); what it does not name is left out.
pub(super) fn device_name(user_agent: &str) -> String {
    let has = |word: &str| user_agent.contains(word);
    let browser = if has("Firefox/") {
        "Firefox"
    } else if has("Edg/") {
        "Edge"
    } else if has("Chrome/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        ""
    };
    let system = if has("Android") {
        "Android"
    } else if has("iPhone") || has("iPad") {
        "iOS"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") {
        "macOS"
    } else if has("Linux") || has("X11") {
        "Linux"
    } else {
        ""
    };
    match (browser, system) {
        ("", "") => user_agent.chars().take(40).collect(),
        (b, "") => b.to_string(),
        ("", s) => s.to_string(),
        (b, s) => format!("{b} · {s}"),
    }
}

/// Turns the mail of unread notifications on or off, and chooses what it is about (the
/// ticked `kind` boxes).
pub async fn set_notifications(
    State(state): State<Shared>,
    agent: Agent,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = super::Fields::parse(&body);
    agent.check_csrf(fields.one("csrf").unwrap_or(""))?;
    let id = agent.0.agent.id;
    let on = fields.one("email").is_some();
    let groups: Vec<String> = fields.all("kind").map(str::to_string).collect();
    state
        .store
        .write(op!(c => {
            agents::set_email_groups(c, id, &groups).await?;
            agents::set_email_notifications(c, id, on).await
        }))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to("/settings?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct RoutingForm {
    csrf: String,
    #[serde(default)]
    languages: String,
    #[serde(default)]
    skills: String,
    #[serde(default)]
    chat_limit: String,
}

/// What routing knows of the agent: languages spoken, topics handled, their own chat
/// limit.
pub async fn set_routing(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<RoutingForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = agent.0.agent.id;
    let words = |s: &str| -> Vec<String> {
        s.split([',', ' '])
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (languages, skills) = (words(&form.languages), words(&form.skills));
    let chat_limit = match form.chat_limit.trim() {
        "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| PageError(Problem::bad_request("chat_limit", "a whole number"), t))?,
        ),
    };
    state
        .store
        .write(op!(c => {
            let mut routing = seva_store::routing::agent(c, id).await?;
            routing.languages = languages;
            routing.skills = skills;
            match chat_limit {
                Some(n) => routing.channel_capacity.insert(Channel::Chat, n),
                None => routing.channel_capacity.remove(&Channel::Chat),
            };
            seva_store::routing::set_agent(c, id, &routing).await
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to("/settings?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct AvailabilityForm {
    csrf: String,
    #[serde(default)]
    available: String,
}

/// Available (routing gives new conversations and chats) or away (it does not; what the
/// agent holds stays theirs).
pub async fn set_availability(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<AvailabilityForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let id = agent.0.agent.id;
    let available = form.available == "1";
    state
        .store
        .write(op!(c => {
            let mut routing = seva_store::routing::agent(c, id).await?;
            routing.available = available;
            seva_store::routing::set_agent(c, id, &routing).await
        }))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to("/settings?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct SignatureForm {
    csrf: String,
    signature: String,
}

pub async fn save_signature(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<SignatureForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let id = agent.0.agent.id;
    state
        .store
        .write(op!(c => agents::set_signature(c, id, &form.signature).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to("/settings?saved=1").into_response())
}

#[derive(askama::Template)]
#[template(path = "inbox_settings.html")]
struct InboxPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    /// `None` for a new inbox.
    inbox: Option<Inbox>,
    /// The inbox's channel; empty for a new one (every kind's fields are shown).
    channel: &'static str,
    v: FormValues,
    teams: Vec<(String, String)>,
    /// The email inboxes, by name: the ones a chat inbox may answer unread chats from.
    email_inboxes: Vec<String>,
}

/// What the form's fields show, as text.
#[derive(Default)]
struct FormValues {
    team_id: String,
    address: String,
    from_name: String,
    auto_acknowledge: bool,
    notify_agents: bool,
    /// (language code, language name, text)
    acks: Vec<(&'static str, &'static str, String)>,
    reopen_days: String,
    relay_host: String,
    relay_port: String,
    relay_security: String,
    relay_username: String,
    relay_password_set: bool,
    imap_host: String,
    imap_port: String,
    imap_security: String,
    imap_username: String,
    imap_password_set: bool,
    imap_folder: String,
    dkim_selector: String,
    dkim_domain: String,
    dkim_key_set: bool,
    /// A chat inbox's widget: allowed origins (one a line), email asked, greetings by
    /// language (code, name, text), colour, and the line to put on a site.
    chat_origins: String,
    chat_require_email: bool,
    chat_greetings: Vec<(&'static str, &'static str, String)>,
    /// What the widget says when nobody is online, by language (code, name, text).
    chat_away: Vec<(&'static str, &'static str, String)>,
    chat_colour: String,
    chat_embed: String,
    /// The answering bot: on, its threshold in percent, its handoff words (comma-separated).
    chat_bot: bool,
    chat_bot_threshold: String,
    chat_bot_words: String,
    /// The email inbox unread chat answers go from (empty: none), and after how long.
    chat_email_inbox: String,
    chat_email_after: String,
    /// The email inbox a web form's answers go from (empty: the request page only).
    form_email_inbox: String,
}

impl FormValues {
    fn of(state: &Shared, inbox: Option<&Inbox>) -> Self {
        let s = inbox.map(EmailSettings::of).unwrap_or_default();
        let set = inbox
            .map(|i| InboxSecrets::of(state, i).names())
            .unwrap_or_default();
        let relay = s.relay.clone();
        let imap = s.imap.clone();
        let chat = inbox
            .filter(|i| i.channel == Channel::Chat)
            .map(crate::chat::settings_of)
            .unwrap_or_default();
        FormValues {
            team_id: inbox
                .and_then(|i| i.team_id)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            address: inbox.and_then(|i| i.address.clone()).unwrap_or_default(),
            from_name: s.from_name.clone().unwrap_or_default(),
            auto_acknowledge: s.auto_acknowledge,
            notify_agents: s.notify_agents,
            acks: LANGUAGES
                .iter()
                .map(|(code, name)| {
                    let text = s.acknowledgement.get(*code).cloned().unwrap_or_default();
                    (*code, *name, text)
                })
                .collect(),
            reopen_days: s.reopen_days.map(|d| d.to_string()).unwrap_or_default(),
            relay_host: relay.as_ref().map(|r| r.host.clone()).unwrap_or_default(),
            relay_port: relay
                .as_ref()
                .map(|r| r.port.to_string())
                .unwrap_or_default(),
            relay_security: security_word(
                relay.as_ref().map_or(Security::Starttls, |r| r.security),
            ),
            relay_username: relay.and_then(|r| r.username).unwrap_or_default(),
            relay_password_set: set.contains(&"relay_password"),
            imap_host: imap.as_ref().map(|r| r.host.clone()).unwrap_or_default(),
            imap_port: imap
                .as_ref()
                .map(|r| r.port.to_string())
                .unwrap_or_default(),
            imap_security: security_word(imap.as_ref().map_or(Security::Tls, |r| r.security)),
            imap_username: imap
                .as_ref()
                .map(|r| r.username.clone())
                .unwrap_or_default(),
            imap_folder: imap.map(|r| r.folder).unwrap_or_default(),
            imap_password_set: set.contains(&"imap_password"),
            dkim_selector: s
                .dkim
                .as_ref()
                .map(|d| d.selector.clone())
                .unwrap_or_default(),
            dkim_domain: s
                .dkim
                .as_ref()
                .map(|d| d.domain.clone())
                .unwrap_or_default(),
            dkim_key_set: set.contains(&"dkim_private_key"),
            chat_origins: chat.allowed_origins.join("\n"),
            chat_require_email: chat.require_email,
            chat_greetings: LANGUAGES
                .iter()
                .map(|(code, name)| {
                    let text = chat.greeting.get(*code).cloned().unwrap_or_default();
                    (*code, *name, text)
                })
                .collect(),
            chat_away: LANGUAGES
                .iter()
                .map(|(code, name)| {
                    let text = chat.away_message.get(*code).cloned().unwrap_or_default();
                    (*code, *name, text)
                })
                .collect(),
            chat_colour: chat.colour.clone().unwrap_or_else(|| "#0b5cad".into()),
            chat_bot: chat.bot.enabled,
            chat_bot_threshold: format!("{:.0}", chat.bot.threshold() * 100.0),
            chat_bot_words: chat.bot.handoff_words.join(", "),
            chat_email_inbox: chat.email_inbox.clone().unwrap_or_default(),
            chat_email_after: chat.email_after().as_secs().to_string(),
            form_email_inbox: inbox
                .filter(|i| i.channel == Channel::WebForm)
                .and_then(|i| crate::mail::web_form::WebFormSettings::of(i).email_inbox)
                .unwrap_or_default(),
            chat_embed: inbox
                .filter(|i| i.channel == Channel::Chat)
                .map(|i| {
                    format!(
                        "<script src=\"{}/widget.js\" data-inbox=\"{}\"></script>",
                        state.config.public_url.trim_end_matches('/'),
                        i.id
                    )
                })
                .unwrap_or_default(),
        }
    }
}

fn security_word(s: Security) -> String {
    match s {
        Security::None => "none",
        Security::Starttls => "starttls",
        Security::Tls => "tls",
    }
    .into()
}

pub(super) fn require_admin(agent: &Agent) -> Result<(), PageError> {
    if agent.0.agent.role == seva_core::agent::Role::Admin {
        Ok(())
    } else {
        Err(PageError(
            Problem::forbidden(agent.tr().s("settings-admins-only")),
            agent.tr(),
        ))
    }
}

async fn inbox_page(
    state: &Shared,
    agent: &Agent,
    inbox: Option<Inbox>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let (teams, all_inboxes) = state
        .store
        .read(op!(c => Ok((teams::list(c).await?, inboxes::list(c).await?))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let teams = teams
        .into_iter()
        .map(|team| (team.id.to_string(), team.name))
        .collect();
    let email_inboxes = all_inboxes
        .into_iter()
        .filter(|i| i.channel == Channel::Email)
        .map(|i| i.name)
        .collect();
    Ok(render(&InboxPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        v: FormValues::of(state, inbox.as_ref()),
        channel: inbox.as_ref().map_or("", |i| i.channel.as_str()),
        inbox,
        teams,
        email_inboxes,
    }))
}

pub async fn new_inbox(State(state): State<Shared>, agent: Agent) -> Result<Response, PageError> {
    require_admin(&agent)?;
    inbox_page(&state, &agent, None).await
}

pub async fn edit_inbox(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    let id: InboxId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    let inbox = state
        .store
        .read(op!(c => inboxes::get(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    inbox_page(&state, &agent, Some(inbox)).await
}

/// The inbox form: every field a text box, as browsers send them.
#[derive(Deserialize)]
pub struct InboxForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    from_name: String,
    #[serde(default)]
    relay_host: String,
    #[serde(default)]
    relay_port: String,
    #[serde(default)]
    relay_security: String,
    #[serde(default)]
    relay_username: String,
    #[serde(default)]
    relay_password: String,
    #[serde(default)]
    imap_host: String,
    #[serde(default)]
    imap_port: String,
    #[serde(default)]
    imap_security: String,
    #[serde(default)]
    imap_username: String,
    #[serde(default)]
    imap_password: String,
    #[serde(default)]
    imap_folder: String,
    #[serde(default)]
    auto_acknowledge: Option<String>,
    #[serde(default)]
    notify_agents: Option<String>,
    #[serde(default)]
    ack_en: String,
    #[serde(default)]
    ack_te: String,
    #[serde(default)]
    ack_el: String,
    #[serde(default)]
    ack_tl: String,
    #[serde(default)]
    reopen_days: String,
    #[serde(default)]
    chat_origins: String,
    #[serde(default)]
    chat_require_email: Option<String>,
    #[serde(default)]
    chat_greeting_en: String,
    #[serde(default)]
    chat_greeting_te: String,
    #[serde(default)]
    chat_greeting_el: String,
    #[serde(default)]
    chat_greeting_tl: String,
    #[serde(default)]
    chat_away_en: String,
    #[serde(default)]
    chat_away_te: String,
    #[serde(default)]
    chat_away_el: String,
    #[serde(default)]
    chat_away_tl: String,
    #[serde(default)]
    chat_colour: String,
    chat_bot: Option<String>,
    #[serde(default)]
    chat_bot_threshold: String,
    #[serde(default)]
    chat_bot_words: String,
    #[serde(default)]
    chat_email_inbox: String,
    #[serde(default)]
    chat_email_after: String,
    #[serde(default)]
    form_email_inbox: String,
    #[serde(default)]
    dkim_selector: String,
    #[serde(default)]
    dkim_domain: String,
    #[serde(default)]
    dkim_private_key: String,
}

fn filled(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn security(s: &str, default: Security) -> Security {
    match s {
        "none" => Security::None,
        "starttls" => Security::Starttls,
        "tls" => Security::Tls,
        _ => default,
    }
}

fn port(field: &'static str, s: &str) -> Result<u16, seva_store::Error> {
    s.trim()
        .parse()
        .map_err(|_| seva_store::Error::invalid(field, "a port is a number from 1 to 65535"))
}

impl InboxForm {
    /// A chat inbox's widget settings, as the form gives them.
    fn chat_settings(&self) -> crate::chat::ChatSettings {
        let per_language = |texts: [(&str, &String); 4]| {
            texts
                .into_iter()
                .filter(|(_, text)| !text.trim().is_empty())
                .map(|(code, text)| (code.to_string(), text.trim().to_string()))
                .collect()
        };
        let greeting = per_language([
            ("en", &self.chat_greeting_en),
            ("te", &self.chat_greeting_te),
            ("el", &self.chat_greeting_el),
            ("tl", &self.chat_greeting_tl),
        ]);
        let away_message = per_language([
            ("en", &self.chat_away_en),
            ("te", &self.chat_away_te),
            ("el", &self.chat_away_el),
            ("tl", &self.chat_away_tl),
        ]);
        crate::chat::ChatSettings {
            allowed_origins: self
                .chat_origins
                .split_whitespace()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
            require_email: self.chat_require_email.is_some(),
            greeting,
            away_message,
            colour: filled(&self.chat_colour),
            bot: crate::bot::BotSettings {
                enabled: self.chat_bot.is_some(),
                threshold: self
                    .chat_bot_threshold
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .map(|p| p / 100.0),
                handoff_words: self
                    .chat_bot_words
                    .split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect(),
            },
            email_inbox: filled(&self.chat_email_inbox),
            email_after_seconds: self.chat_email_after.trim().parse().ok(),
        }
    }

    /// The settings the form describes. What the form does not show (an IMAP account's
    /// poll interval and extra CA) is kept from `current`.
    fn settings(
        &self,
        current: Option<&EmailSettings>,
    ) -> Result<EmailSettings, seva_store::Error> {
        let kept = current.and_then(|c| c.imap.as_ref());
        let relay = match filled(&self.relay_host) {
            Some(host) => Some(Relay {
                host,
                port: port("relay_port", &self.relay_port)?,
                security: security(&self.relay_security, Security::Starttls),
                username: filled(&self.relay_username),
            }),
            None => None,
        };
        let imap = match filled(&self.imap_host) {
            Some(host) => Some(ImapAccount {
                host,
                port: port("imap_port", &self.imap_port)?,
                security: security(&self.imap_security, Security::Tls),
                username: filled(&self.imap_username).ok_or(seva_store::Error::invalid(
                    "imap_username",
                    "an IMAP account needs a user name",
                ))?,
                folder: filled(&self.imap_folder).unwrap_or_else(|| "INBOX".into()),
                poll_seconds: kept.and_then(|k| k.poll_seconds),
                ca_pem: kept.and_then(|k| k.ca_pem.clone()),
            }),
            None => None,
        };
        let dkim = match (filled(&self.dkim_selector), filled(&self.dkim_domain)) {
            (Some(selector), Some(domain)) => Some(Dkim { selector, domain }),
            _ => None,
        };
        let acknowledgement = [
            ("en", &self.ack_en),
            ("te", &self.ack_te),
            ("el", &self.ack_el),
            ("tl", &self.ack_tl),
        ]
        .into_iter()
        .filter_map(|(l, t)| filled(t).map(|t| (l.to_string(), t)))
        .collect();
        let reopen_days = match filled(&self.reopen_days) {
            Some(d) => Some(
                d.parse()
                    .map_err(|_| seva_store::Error::invalid("reopen_days", "a number of days"))?,
            ),
            None => None,
        };
        Ok(EmailSettings {
            from_name: filled(&self.from_name),
            relay,
            imap,
            auto_acknowledge: self.auto_acknowledge.is_some(),
            acknowledgement,
            reopen_days,
            dkim,
            notify_agents: self.notify_agents.is_some(),
        })
    }

    /// Only the secrets typed in change.
    fn secrets(&self) -> InboxSecrets {
        InboxSecrets {
            relay_password: filled(&self.relay_password),
            imap_password: filled(&self.imap_password),
            dkim_private_key: filled(&self.dkim_private_key),
        }
    }
}

pub async fn create_inbox(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<InboxForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    save(&state, &agent, None, form).await
}

pub async fn update_inbox(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<InboxForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let id: InboxId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    save(&state, &agent, Some(id), form).await
}

async fn save(
    state: &Shared,
    agent: &Agent,
    id: Option<InboxId>,
    form: InboxForm,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let fail = |e: seva_store::Error| PageError(e.into(), t);
    let current = match id {
        Some(id) => Some(
            state
                .store
                .read(op!(c => inboxes::get(c, id).await))
                .await
                .map_err(fail)?,
        ),
        None => None,
    };
    let channel: Channel = match &current {
        Some(i) => i.channel,
        None => form
            .channel
            .parse()
            .map_err(|_| fail(seva_store::Error::invalid("channel", "choose a channel")))?,
    };
    let email = channel == Channel::Email;
    let settings = if email {
        let now = current.as_ref().map(EmailSettings::of);
        Some(serde_json::to_value(form.settings(now.as_ref()).map_err(fail)?).unwrap_or_default())
    } else if channel == Channel::Chat {
        let chat = serde_json::to_value(form.chat_settings()).unwrap_or_default();
        crate::chat::check_settings(&chat).map_err(|p| PageError(p, t))?;
        Some(chat)
    } else if channel == Channel::WebForm {
        let form_settings = crate::mail::web_form::WebFormSettings {
            email_inbox: filled(&form.form_email_inbox),
        };
        Some(serde_json::to_value(form_settings).unwrap_or_default())
    } else {
        None
    };
    let secrets =
        email.then(|| InboxSecrets::sealed_update(state, current.as_ref(), form.secrets()));
    let team = match filled(&form.team_id) {
        Some(t) => Some(
            t.parse()
                .map_err(|_| fail(seva_store::Error::invalid("team_id", "no such team")))?,
        ),
        None => None,
    };
    let address = filled(&form.address);
    let name = form.name.clone();
    let actor = agent.0.actor();
    let saved = state
        .store
        .write(op!(c => {
            let fields = InboxFields {
                team: Some(team),
                address: email.then_some(address.as_deref()),
                settings: settings.as_ref(),
                secrets: secrets.as_deref(),
            };
            match id {
                Some(id) => inboxes::update(c, id, fields, &actor).await,
                None => inboxes::create(c, &name, channel, fields, &actor).await,
            }
        }))
        .await
        .map_err(fail)?;
    Ok(Redirect::to(&format!("/settings/inboxes/{}?saved=1", saved.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::device_name;

    #[test]
    fn a_browser_is_named_by_its_name_and_system() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge · Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari · macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari · iOS",
            ),
            ("curl/8.5.0", "curl/8.5.0"),
            ("", ""),
        ];
        for (ua, name) in cases {
            assert_eq!(device_name(ua), name, "{ua}");
        }
    }
}
