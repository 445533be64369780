//! What customers see without logging in: the web form that opens a conversation, and
//! the private request page (reached by a secret link) where they read the answers and
//! write back. No third-party service is involved: a hidden honeypot field and a
//! per-address rate limit keep the form's spam out.

use std::sync::atomic::Ordering;

use super::Form;
use super::Query;
use axum::extract::{ConnectInfo, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::AttachmentId;
use seva_core::contact::{Email, IdentityKind};
use seva_core::conversation::{Channel, Priority, Status};
use seva_store::conversations::{self, Arrival};
use seva_store::{inboxes, messages, op};

use super::desk::{MessageView, message_views};
use super::{Me, PageError, render};
use crate::Shared;
use crate::auth::{new_secret, sha256_hex};
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

#[derive(Deserialize, Default)]
pub struct FormQuery {
    lang: Option<String>,
    embed: Option<String>,
    /// The inbox (and so the team) the form writes to; the default web form otherwise.
    inbox: Option<String>,
    /// A subject to start from (what the visitor searched for in the help center).
    subject: Option<String>,
}

fn tr(q: &FormQuery, headers: &HeaderMap) -> Tr {
    match &q.lang {
        Some(l) => Tr::new(l),
        None => Tr::negotiate(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        ),
    }
}

#[derive(askama::Template)]
#[template(path = "contact_form.html")]
struct FormPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    embed: bool,
    inbox: String,
    error: Option<String>,
    name: String,
    email: String,
    subject: String,
    message: String,
}

/// The embeddable form may be framed by any site; other pages may not be framed at all.
fn frame_policy(embed: bool) -> [(header::HeaderName, &'static str); 1] {
    if embed {
        [(header::CONTENT_SECURITY_POLICY, "frame-ancestors *")]
    } else {
        [(header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'")]
    }
}

pub async fn form(
    State(state): State<Shared>,
    Query(q): Query<FormQuery>,
    headers: HeaderMap,
) -> Response {
    let t = tr(&q, &headers);
    let embed = q.embed.is_some();
    let inbox = q.inbox.clone().unwrap_or_default();
    if !inbox.is_empty() {
        let name = inbox.clone();
        match state
            .store
            .read(op!(c => inboxes::by_name(c, &name).await))
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return PageError(Problem::not_found(), t).into_response(),
            Err(e) => return PageError(e.into(), t).into_response(),
        }
    }
    let page = FormPage {
        t,
        me: None,
        languages: LANGUAGES,
        embed,
        inbox,
        error: None,
        name: String::new(),
        email: String::new(),
        subject: q
            .subject
            .clone()
            .unwrap_or_default()
            .chars()
            .take(250)
            .collect(),
        message: String::new(),
    };
    (frame_policy(embed), render(&page)).into_response()
}

#[derive(askama::Template)]
#[template(path = "thanks.html")]
struct ThanksPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    reference: i64,
    link: String,
    link_full: String,
    /// Articles that may already answer it: (title, address).
    suggested: Vec<(String, String)>,
    /// The address answers are also mailed to, when the form's inbox answers by email.
    by_email: Option<String>,
}

/// The web form's fields, read from its multipart body.
struct Submission {
    name: String,
    email: String,
    subject: String,
    message: String,
    honeypot: String,
    files: Vec<super::Upload>,
}

async fn read_submission(
    multipart: Multipart,
    max_file: usize,
) -> Result<Submission, (&'static str, String)> {
    let mut posted = super::read_multipart(multipart, max_file).await?;
    Ok(Submission {
        name: posted.take("name"),
        email: posted.take("email"),
        subject: posted.take("subject"),
        message: posted.take("message"),
        honeypot: posted.take("website"),
        files: posted.files,
    })
}

pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Query(q): Query<FormQuery>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let t = tr(&q, &headers);
    let embed = q.embed.is_some();
    if let Err(refused) = super::form_post_allowed(&state, addr, t) {
        return refused.into_response();
    }
    let s = match read_submission(multipart, state.config.max_attachment_bytes).await {
        Ok(s) => s,
        Err((field, detail)) => {
            let status = if detail.contains("larger") || detail.contains("too large") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return PageError(Problem::field(status, field, detail), t).into_response();
        }
    };
    let again = |error: String, status: StatusCode| {
        let page = FormPage {
            t,
            me: None,
            languages: LANGUAGES,
            embed,
            inbox: q.inbox.clone().unwrap_or_default(),
            error: Some(error),
            name: s.name.clone(),
            email: s.email.clone(),
            subject: s.subject.clone(),
            message: s.message.clone(),
        };
        (status, frame_policy(embed), render(&page)).into_response()
    };
    // A filled honeypot is a bot: it gets a page that looks like success and nothing is stored.
    if !s.honeypot.is_empty() {
        tracing::info!(ip = %addr.ip(), "web form honeypot filled; dropped");
        let page = ThanksPage {
            t,
            me: None,
            languages: LANGUAGES,
            reference: 0,
            link: "/contact".into(),
            link_full: t.s("form-title"),
            suggested: Vec::new(),
            by_email: None,
        };
        return render(&page);
    }
    let Ok(email) = Email::parse(&s.email) else {
        return again(t.s("form-bad-email"), StatusCode::UNPROCESSABLE_ENTITY);
    };
    if s.name.trim().is_empty() || s.subject.trim().is_empty() || s.message.trim().is_empty() {
        return again(t.s("form-missing"), StatusCode::UNPROCESSABLE_ENTITY);
    }
    if s.message.len() > 256 * 1024 {
        return again(t.s("form-too-long"), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let Ok(stored) = super::store_uploads(&state, s.files).await else {
        return PageError(Problem::internal(), t).into_response();
    };
    let key = new_secret();
    let key_hash = sha256_hex(key.as_bytes());
    let identity = email.identity_key();
    let (name, subject, message) = (s.name, s.subject, s.message);
    let question: String = format!("{subject} {message}")
        .chars()
        .take(crate::knowledge::MAX_QUERY_CHARS)
        .collect();
    let inbox_name = q.inbox.clone().filter(|i| !i.is_empty());
    let received = state
        .store
        .write(op!(c => {
            let inbox = match &inbox_name {
                Some(n) => Some(inboxes::by_name(c, n).await?.ok_or(seva_store::Error::invalid("inbox", "no such inbox"))?),
                None => None,
            };
            let by_email = inbox.as_ref().is_some_and(|i| {
                crate::mail::web_form::WebFormSettings::of(i).email_inbox.is_some()
            });
            conversations::ingest(c, Arrival {
            channel: Channel::WebForm,
            identity: (IdentityKind::Email, &identity),
            name: Some(&name),
            subject: &subject,
            text: &message,
            files: &stored,
            provider_id: None,
            continues: None,
            inbox_id: inbox.as_ref().map(|i| i.id),
            team_id: inbox.as_ref().and_then(|i| i.team_id),
            customer_key_hash: Some(&key_hash),
            priority: Priority::Normal,
            recorded_by: None,
            owner: None,
            email: Default::default(),
            bot: false,
        }).await.map(|r| (r, by_email))
        }))
        .await;
    match received {
        Ok((r, by_email)) => {
            state
                .metrics
                .conversations_created
                .fetch_add(1, Ordering::Relaxed);
            let link = format!("/requests/{key}?lang={}", t.lang);
            let link_full = format!("{}{}", state.config.public_url, link);
            let suggested = crate::knowledge::suggestions(
                &state,
                &question,
                Some(t.lang),
                crate::knowledge::ACK_THRESHOLD,
            )
            .into_iter()
            .map(|h| {
                let href = format!(
                    "/help/{}/{}",
                    h.lang,
                    crate::knowledge::encode_path(h.slug.as_deref().unwrap_or_default())
                );
                (h.title, href)
            })
            .collect();
            render(&ThanksPage {
                t,
                me: None,
                languages: LANGUAGES,
                reference: r.reference,
                link,
                link_full,
                suggested,
                by_email: by_email.then_some(email.identity_key()),
            })
        }
        Err(e) => PageError(e.into(), t).into_response(),
    }
}

#[derive(askama::Template)]
#[template(path = "request.html")]
struct RequestPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    path: String,
    reference: i64,
    subject: String,
    status: &'static str,
    status_label: String,
    messages: Vec<MessageView>,
    can_reply: bool,
}

fn key_hash(key: &str) -> Result<String, Problem> {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::not_found());
    }
    Ok(sha256_hex(key.as_bytes()))
}

pub async fn request(
    State(state): State<Shared>,
    Path(key): Path<String>,
    Query(q): Query<FormQuery>,
    headers: HeaderMap,
) -> Response {
    let t = tr(&q, &headers);
    let hash = match key_hash(&key) {
        Ok(h) => h,
        Err(p) => return PageError(p, t).into_response(),
    };
    let found = state
        .store
        .read(op!(c => {
            let conv = conversations::by_customer_key(c, &hash).await?;
            let list = messages::for_conversation(c, conv.id, false).await?;
            Ok((conv, list))
        }))
        .await;
    let (c, list) = match found {
        Ok(x) => x,
        Err(e) => return PageError(e.into(), t).into_response(),
    };
    let path = format!("/requests/{key}");
    let file_base = path.clone();
    let messages = message_views(t, list, |a| format!("{file_base}/files/{}", a.id));
    let page = RequestPage {
        t,
        me: None,
        languages: LANGUAGES,
        path,
        reference: c.reference,
        subject: c.subject,
        status: c.status.as_str(),
        status_label: t.word("status", c.status.as_str()),
        messages,
        can_reply: c.status != Status::Closed,
    };
    (
        [
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(&page),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    message: String,
}

/// The customer writes back on their request page. The secret link is the credential, and
/// the per-address limit of the web form applies here too.
pub async fn reply(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReplyForm>,
) -> Response {
    let t = tr(&FormQuery::default(), &headers);
    let hash = match key_hash(&key) {
        Ok(h) => h,
        Err(p) => return PageError(p, t).into_response(),
    };
    if form.message.trim().is_empty() || form.message.len() > 256 * 1024 {
        return PageError(Problem::bad_request("message", t.s("form-missing")), t).into_response();
    }
    if let Err(refused) = super::form_post_allowed(&state, addr, t) {
        return refused.into_response();
    }
    // Written on a page shown before the request was closed: the words start a new
    // request, under the same subject, with a page of its own to follow it on.
    let follow_up = new_secret();
    let follow_up_hash = sha256_hex(follow_up.as_bytes());
    let r = state
        .store
        .write(op!(c => {
            let conv = conversations::by_customer_key(c, &hash).await?;
            let contact = seva_store::contacts::get(c, conv.contact_id).await?;
            let identity = contact.identities.iter().find(|i| i.kind == IdentityKind::Email).map(|i| i.value.clone()).unwrap_or_default();
            let closed = conv.status == Status::Closed;
            conversations::ingest(c, Arrival {
                channel: Channel::WebForm,
                identity: (IdentityKind::Email, &identity),
                name: None,
                subject: if closed { &conv.subject } else { "" },
                text: &form.message,
                files: &[],
                provider_id: None,
                continues: (!closed).then_some(conv.id),
                inbox_id: conv.inbox_id,
                team_id: conv.team_id,
                customer_key_hash: closed.then_some(follow_up_hash.as_str()),
                priority: conv.priority,
                recorded_by: None,
                owner: None,
                email: Default::default(),
                bot: false,
            })
            .await
            .map(|_| closed)
        }))
        .await;
    match r {
        Ok(false) => Redirect::to(&format!("/requests/{key}")).into_response(),
        Ok(true) => Redirect::to(&format!("/requests/{follow_up}")).into_response(),
        Err(e) => PageError(e.into(), t).into_response(),
    }
}

pub async fn file(
    State(state): State<Shared>,
    Path((key, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let hash = key_hash(&key)?;
    let id: AttachmentId = id.parse().map_err(|_| Problem::not_found())?;
    let file = state
        .store
        .read(op!(c => {
            let conv = conversations::by_customer_key(c, &hash).await?;
            let (conversation, file) = seva_store::attachments::for_customer(c, id).await?;
            if conversation != conv.id {
                return Err(seva_store::Error::NotFound);
            }
            Ok(file)
        }))
        .await?;
    crate::api::events::download(&state, &file.sha256, &file.filename).await
}
