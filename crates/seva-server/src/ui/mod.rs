//! The pages people use: agents' inbox, conversation and contact pages (server-rendered,
//! usable without JavaScript, kept live by a small script), and the public web form and
//! request page customers use. Every word on them comes from the translation files.

mod account;
mod audit;
mod desk;
mod export;
mod help;
mod input;
mod knowledge;
mod macros;
mod organizations;
mod people;
mod public;
mod reset;
mod search;
mod service;
mod session;
mod settings;
mod start;
mod supervise;
mod tools;
mod views;
mod work;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::Shared;
use crate::auth::{Caller, constant_time_eq};
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;
pub use input::{Form, Query};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/login", get(session::login_page).post(session::login))
        .route(
            "/login/code",
            get(account::code_page).post(account::check_code),
        )
        .route("/me/sessions/others", post(session::end_other_sessions))
        .route("/me/two-step", get(account::page))
        .route("/me/two-step/start", post(account::start))
        .route("/me/two-step/on", post(account::turn_on))
        .route("/me/two-step/off", post(account::turn_off))
        .route("/login/forgot", get(reset::forgot).post(reset::ask))
        .route("/login/reset", get(reset::page).post(reset::reset))
        .route("/logout", post(session::logout))
        .route("/me/language", post(session::set_language))
        .route(
            "/me/password",
            get(session::password_page).post(session::set_password),
        )
        .route("/inbox", get(desk::inbox))
        .route("/inbox/export.csv", get(export::csv))
        .route("/conversations", post(start::create))
        .route("/conversations/new", get(start::new))
        .route("/conversations/{id}", get(desk::conversation))
        .route("/conversations/{id}/reply", post(desk::reply))
        .route("/conversations/{id}/assign", post(desk::assign))
        .route("/conversations/{id}/status", post(desk::status))
        .route("/conversations/{id}/follow", post(desk::follow))
        .route("/conversations/{id}/spam", post(desk::spam))
        .route("/conversations/{id}/subject", post(desk::subject))
        .route("/conversations/{id}/copy", post(desk::copy))
        .route("/conversations/{id}/priority", post(desk::priority))
        .route("/conversations/{id}/tags", post(desk::tags))
        .route("/conversations/{id}/transfer", post(work::transfer))
        .route(
            "/conversations/{id}/transfer/done",
            post(work::transfer_done),
        )
        .route("/tasks/{id}/done", post(work::task_done))
        .route("/notifications/{id}/read", post(work::read_notification))
        .route("/conversations/{id}/snooze", post(work::snooze))
        .route("/conversations/{id}/macro", post(work::apply_macro))
        .route("/conversations/{id}/merge", post(tools::merge))
        .route("/conversations/{id}/split", post(tools::split))
        .route("/conversations/{id}/fields", post(tools::fields))
        .route("/inbox/bulk", post(tools::bulk))
        .route("/views", post(views::create))
        .route("/views/new", get(views::new))
        .route("/views/{id}/delete", post(views::delete))
        .route("/queues", get(supervise::queues))
        .route(
            "/rules",
            get(supervise::rules_list).post(supervise::rules_submit),
        )
        .route("/rules/{id}/delete", post(supervise::rules_delete))
        .route("/contacts", get(desk::contacts).post(desk::contact_create))
        .route(
            "/organizations",
            get(organizations::list).post(organizations::create),
        )
        .route(
            "/organizations/{id}",
            get(organizations::page).post(organizations::update),
        )
        .route("/organizations/{id}/delete", post(organizations::delete))
        .route("/search", get(search::page))
        .route("/settings", get(settings::page))
        .route("/me/signature", post(settings::save_signature))
        .route("/me/notifications", post(settings::set_notifications))
        .route("/me/availability", post(settings::set_availability))
        .route("/me/routing", post(settings::set_routing))
        .route("/settings/inboxes", post(settings::create_inbox))
        .route("/settings/macros", get(macros::page).post(macros::create))
        .route(
            "/settings/macros/{id}",
            get(macros::edit).post(macros::update),
        )
        .route("/settings/macros/{id}/delete", post(macros::delete))
        .route("/settings/audit", get(audit::page))
        .route("/settings/people", get(people::page))
        .route("/settings/people/agents", post(people::create_agent))
        .route(
            "/settings/people/agents/{id}/{action}",
            post(people::agent_action),
        )
        .route("/settings/people/tokens", post(people::create_token))
        .route(
            "/settings/people/tokens/{id}/revoke",
            post(people::revoke_token),
        )
        .route("/settings/people/teams", post(people::create_team))
        .route("/settings/people/teams/{id}/{action}", post(people::member))
        .route("/settings/service", get(service::page))
        .route(
            "/settings/service/calendars",
            post(service::create_calendar),
        )
        .route("/settings/service/policies", post(service::create_policy))
        .route("/settings/service/fields", post(service::create_field))
        .route("/settings/service/routing/{id}", post(service::set_routing))
        .route(
            "/settings/service/fields/{id}/delete",
            post(service::delete_field),
        )
        .route("/settings/inboxes/new", get(settings::new_inbox))
        .route(
            "/settings/inboxes/{id}",
            get(settings::edit_inbox).post(settings::update_inbox),
        )
        .route("/messages/{id}/original", get(desk::original))
        .route("/messages/{id}/redact", post(desk::message_redact))
        .route(
            "/contacts/{id}",
            get(desk::contact).post(desk::contact_update),
        )
        .route("/contacts/{id}/merge", post(desk::contact_merge))
        .route("/contacts/{id}/block", post(desk::contact_block))
        .route("/contacts/{id}/erase", post(desk::contact_erase))
        .route("/contacts/{id}/identities", post(desk::identity_add))
        .route(
            "/contacts/{id}/identities/remove",
            post(desk::identity_remove),
        )
        .route("/live", get(crate::live::stream))
        .route("/contact", get(public::form).post(public::submit))
        .route("/kb", get(knowledge::list))
        .route("/kb/new", get(knowledge::new).post(knowledge::create))
        .route("/kb/categories", post(knowledge::create_category))
        .route("/kb/{id}", get(knowledge::page).post(knowledge::update))
        .route("/kb/{id}/diff", get(knowledge::diff))
        .route("/kb/{id}/restore/{n}", post(knowledge::restore))
        .route("/kb/{id}/flag", post(knowledge::flag))
        .route("/kb/{id}/flags/resolve", post(knowledge::resolve_flags))
        .route("/help", get(help::root))
        .route("/help/sitemap.xml", get(help::sitemap))
        .route("/help/{lang}", get(help::home))
        .route("/help/{lang}/search", get(help::search))
        .route("/help/{lang}/search.json", get(help::search_json))
        .route("/help/{lang}/c/{slug}", get(help::category))
        .route("/help/{lang}/{slug}", get(help::article))
        .route("/help/{lang}/{slug}/feedback", post(help::feedback))
        .route("/requests/{key}", get(public::request))
        .route("/requests/{key}/reply", post(public::reply))
        .route("/requests/{key}/files/{id}", get(public::file))
        .route(
            "/assets/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../assets/app.js"),
                )
            }),
        )
        .route(
            "/assets/app.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../assets/app.css"),
                )
            }),
        )
        .layer(axum::middleware::from_fn(rejections_as_pages))
}

/// What axum's own extractors could not read (a path, a multipart body) is answered in
/// plain English text; a person gets the error page instead, in the language their
/// browser asks for, with the same status. Forms and query strings go through
/// [`Form`] and [`Query`], which also name the field.
async fn rejections_as_pages(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let language = req
        .headers()
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let res = next.run(req).await;
    let plain = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(plain && res.status().is_client_error()) {
        return res;
    }
    let status = res.status();
    let Ok(body) = axum::body::to_bytes(res.into_body(), 64 * 1024).await else {
        return Problem::new(status, "the request could not be read").into_response();
    };
    let detail = String::from_utf8_lossy(&body).into_owned();
    PageError(Problem::new(status, detail), Tr::negotiate(&language)).into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The logged-in agent as the page header shows them.
pub struct Me {
    pub name: String,
    pub role: seva_core::agent::Role,
    pub csrf: String,
    /// Supervisors and admins see the queues and rules pages.
    pub supervises: bool,
}

pub fn me(caller: &Caller) -> Me {
    Me {
        name: caller.agent.name.clone(),
        role: caller.agent.role,
        csrf: caller.csrf().to_string(),
        supervises: caller.agent.role.sees_every_team(),
    }
}

/// An agent with a browser session; anyone else is sent to the login page.
pub struct Agent(pub Caller);

impl FromRequestParts<Shared> for Agent {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        match crate::auth::authenticate(state, &parts.headers).await {
            // A one-time password is changed before anything else is done with it.
            Ok(Some(caller))
                if caller.agent.must_change_password
                    && !matches!(parts.uri.path(), "/me/password" | "/logout") =>
            {
                Err(Redirect::to("/me/password").into_response())
            }
            // Where the desk requires two-step verification, it is set up before anything
            // else is done (after a one-time password is changed).
            Ok(Some(caller))
                if !caller.agent.two_step
                    && !caller.agent.must_change_password
                    && matches!(caller.via, crate::auth::Via::Session { .. })
                    && state.config.require_two_step.applies_to(caller.agent.role)
                    && !parts.uri.path().starts_with("/me/two-step")
                    && parts.uri.path() != "/logout" =>
            {
                Err(Redirect::to("/me/two-step").into_response())
            }
            Ok(Some(caller)) if matches!(caller.via, crate::auth::Via::Session { .. }) => {
                Ok(Agent(caller))
            }
            Ok(_) => Err(Redirect::to("/login").into_response()),
            Err(p) => Err(p.into_response()),
        }
    }
}

impl Agent {
    /// Every form that changes something carries the session's CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if constant_time_eq(sent.as_bytes(), self.0.csrf().as_bytes()) {
            Ok(())
        } else {
            Err(PageError(
                Problem::forbidden("missing or wrong CSRF token"),
                self.tr(),
            ))
        }
    }

    pub fn tr(&self) -> Tr {
        Tr::new(&self.0.agent.language)
    }
}

/// Counts a public form (web form, reply, help-center feedback) posted from this address,
/// or refuses it (429, with `Retry-After`) when the address has posted too many lately:
/// all of them share one limit per address.
pub fn form_post_allowed(
    state: &Shared,
    addr: std::net::SocketAddr,
    t: Tr,
) -> Result<(), PageError> {
    state
        .form_posts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .hit(addr.ip().to_string(), seva_store::now().micros())
        .map_err(|wait| PageError(Problem::too_many(t.s("form-too-many"), wait), t))
}

/// A form that carries nothing but its CSRF token (delete, disable, log out). A missing
/// token reads as empty, so that it is refused as a wrong one is.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// An error shown as a page in the reader's language.
pub struct PageError(pub Problem, pub Tr);

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    title: String,
    detail: String,
    back: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = self.1;
        let title = match self.0.status {
            StatusCode::NOT_FOUND => t.s("error-not-found"),
            StatusCode::FORBIDDEN => t.s("error-forbidden"),
            StatusCode::TOO_MANY_REQUESTS => t.s("error-too-many"),
            s if s.is_client_error() => t.s("error-bad-input"),
            _ => t.s("error-internal"),
        };
        let page = ErrorPage {
            t,
            me: None,
            languages: LANGUAGES,
            title,
            detail: self.0.detail.clone(),
            back: "javascript:history.back()",
        };
        let mut response = (self.0.status, render(&page)).into_response();
        self.0.add_headers(&mut response);
        response
    }
}

/// A page that shows a form again: 422 when it says what was refused, so that the
/// refusal is plain to scripts as well as to the person.
pub fn render_form(page: &impl askama::Template, refused: bool) -> Response {
    let html = render(page);
    if refused {
        (StatusCode::UNPROCESSABLE_ENTITY, html).into_response()
    } else {
        html
    }
}

/// The words a form shows again when the store refused it (`field: why`); any other
/// failure is the page's error.
pub fn refusal(e: seva_store::Error, t: Tr) -> Result<String, PageError> {
    match e {
        seva_store::Error::Invalid { field, message } => Ok(format!("{field}: {message}")),
        e => Err(PageError(e.into(), t)),
    }
}

pub fn render(page: &impl askama::Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            Problem::internal().into_response()
        }
    }
}

/// A local time for display. Agents see UTC until per-agent time zones arrive with
/// business hours; the `<time>` element carries the exact instant for scripts.
pub fn short_time(t: seva_core::time::Timestamp) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        d.year(),
        d.month() as u8,
        d.day(),
        d.hour(),
        d.minute()
    )
}

pub fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// A file sent with a form: (file name, content type, bytes).
pub type Upload = (String, String, Vec<u8>);

/// A multipart form as posted: its text fields and its files.
#[derive(Default)]
pub struct Posted {
    pub fields: std::collections::HashMap<String, String>,
    pub files: Vec<Upload>,
}

impl Posted {
    pub fn take(&mut self, name: &str) -> String {
        self.fields.remove(name).unwrap_or_default()
    }
}

/// Reads a multipart form: text fields, and up to 10 files (field `files`) of at most
/// `max_file` bytes each. Errors name the field.
pub async fn read_multipart(
    mut multipart: axum::extract::Multipart,
    max_file: usize,
) -> Result<Posted, (&'static str, String)> {
    let mut posted = Posted::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ("body", e.body_text()))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "files" {
            let filename = field.file_name().unwrap_or("").to_string();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = field.bytes().await.map_err(|e| ("files", e.body_text()))?;
            if filename.is_empty() && bytes.is_empty() {
                continue; // the browser sends an empty part when no file was chosen
            }
            if bytes.len() > max_file {
                return Err((
                    "files",
                    format!("{filename} is larger than {} MB", max_file / (1024 * 1024)),
                ));
            }
            if posted.files.len() >= 10 {
                return Err(("files", "at most 10 files".into()));
            }
            posted.files.push((filename, content_type, bytes.to_vec()));
        } else {
            let text = field
                .text()
                .await
                .map_err(|_| ("body", format!("{name} must be text")))?;
            posted.fields.insert(name, text);
        }
    }
    Ok(posted)
}

/// Stores uploaded files (content-addressed, on disk before anything points at them).
pub async fn store_uploads(
    state: &Shared,
    files: Vec<Upload>,
) -> std::io::Result<Vec<seva_store::attachments::StoredFile>> {
    let dir = state.config.attachments_dir();
    tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|(n, ct, b)| crate::files::store(&dir, n, ct, b))
            .collect()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The email addresses typed into one field, separated by commas, semicolons or spaces
/// (each, and how many, is checked where they are used).
pub fn addresses(raw: &str) -> Vec<String> {
    raw.split([',', ';', ' '])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// A form body read by hand, for forms that send a field more than once (ticked boxes).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first non-empty value of a field.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field read as `T` (an id, a word); empty is none, anything else is `wrong`.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        wrong: &str,
    ) -> Result<Option<T>, seva_store::Error> {
        self.one(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| seva_store::Error::invalid(name, format!("{v:?}: {wrong}")))
            })
            .transpose()
    }

    /// A whole number; empty is none.
    pub fn number(&self, name: &'static str) -> Result<Option<i64>, seva_store::Error> {
        self.parsed(name, "not a whole number")
    }

    /// Every ticked value of a field, each one of an enum's words.
    pub fn words<T: std::str::FromStr<Err = seva_core::conversation::UnknownWord>>(
        &self,
        name: &'static str,
    ) -> Result<Vec<T>, seva_store::Error> {
        self.all(name)
            .map(|w| {
                w.parse()
                    .map_err(|e: T::Err| seva_store::Error::invalid(name, e.to_string()))
            })
            .collect()
    }

    /// One field's words, separated by commas, spaces or lines.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.one(name)
            .unwrap_or("")
            .split([',', ' ', '\n', '\r'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}
