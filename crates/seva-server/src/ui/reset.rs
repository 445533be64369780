//! A forgotten password: the agent asks for a link by email (`/login/forgot`), and the link
//! (`/login/reset?token=…`) lets them choose a new password, once, within an hour. The
//! answer to the request is the same whether the address is an agent's or not, and comes
//! before the mail is sent, so neither tells who has an account; requests are rate
//! limited by address and by IP like failed logins. The token is kept only as its
//! SHA-256 and never logged. Mail goes from the email inbox that sends agents their
//! notifications; without one, the page says to ask an admin.

use super::Form;
use super::Query;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_store::{agents, op};

use super::session::{login_token, login_token_ok, tr_from};
use super::{Me, PageError, render};
use crate::Shared;
use crate::auth::{self, sha256_hex};
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

/// How long a link works.
const LINK_SECONDS: i64 = 3600;

#[derive(askama::Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    /// Whether an inbox can mail the link at all.
    can_mail: bool,
    /// What was said after a request.
    sent: Option<String>,
}

async fn forgot_page(
    state: &Shared,
    headers: &HeaderMap,
    sent: Option<String>,
) -> Result<Response, PageError> {
    let t = tr_from(headers);
    let can_mail = crate::mail::notify::sender(state)
        .await
        .map_err(|_| PageError(Problem::internal(), t))?
        .is_some();
    let (csrf, cookie) = login_token(state, headers);
    let page = ForgotPage {
        t,
        me: None,
        languages: LANGUAGES,
        csrf,
        can_mail,
        sent,
    };
    Ok(([(header::SET_COOKIE, cookie)], render(&page)).into_response())
}

pub async fn forgot(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    forgot_page(&state, &headers, None).await
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Mails a link to the agent with that address, if there is one (and says the same
/// either way).
pub async fn ask(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Result<Response, PageError> {
    let t = tr_from(&headers);
    if !login_token_ok(&headers, &form.csrf) {
        return Err(PageError(
            Problem::forbidden("the form expired; please try again"),
            t,
        ));
    }
    let email = form.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 320 {
        return Err(PageError(
            Problem::bad_request("email", "an email address"),
            t,
        ));
    }
    let now = seva_store::now().micros();
    let keys = [
        format!("forgot-ip:{}", addr.ip()),
        format!("forgot-account:{email}"),
    ];
    let limited = {
        let mut window = state
            .login_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let wait = keys.iter().filter_map(|k| window.wait(k, now)).max();
        if wait.is_none() {
            for k in keys {
                let _ = window.hit(k, now);
            }
        }
        wait
    };
    if let Some(wait) = limited {
        return Err(PageError(
            Problem::too_many(t.s("forgot-too-many"), wait),
            t,
        ));
    }
    // The rest happens after the answer, so that its time does not tell whether the
    // address is an agent's.
    tokio::spawn(mail_link(state.clone(), email.clone()));
    let sent = t.a("forgot-sent", "email", &email);
    forgot_page(&state, &headers, Some(sent)).await
}

/// Keeps a new link for the agent with address `email` (if any, and enabled) and mails
/// it from the inbox that sends agents' mail (if any).
async fn mail_link(state: Shared, email: String) {
    let found = state
        .store
        .read(op!(c => agents::by_email(c, &email).await))
        .await;
    let agent = match found {
        Ok(Some(a)) if !a.disabled => a,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "password reset: could not read the agents");
            return;
        }
    };
    let inbox = match crate::mail::notify::sender(&state).await {
        Ok(Some(i)) => i,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "password reset: could not read the inboxes");
            return;
        }
    };
    let token = auth::new_secret();
    let hash = sha256_hex(token.as_bytes());
    // The mail's Message-ID: a part of the hash, which does not give the token away.
    let key = hash[..16].to_string();
    let expires = seva_store::now().plus_seconds(LINK_SECONDS);
    let id = agent.id;
    if let Err(e) = state
        .store
        .write(op!(c => agents::create_reset(c, id, &hash, expires).await))
        .await
    {
        tracing::warn!(agent = %id, error = %e, "password reset: could not keep the link");
        return;
    }
    let link = format!(
        "{}/login/reset?token={token}",
        state.config.public_url.trim_end_matches('/')
    );
    let them = Tr::new(&agent.language);
    let words = them.a("reset-mail-text", "email", &agent.email);
    let text = format!("{words}\n\n{link}\n");
    let html = format!(
        "<p>{}</p><p><a href=\"{shown}\">{shown}</a></p>",
        seva_core::text::escape_html(&words),
        shown = seva_core::text::escape_html(&link)
    );
    let letter = crate::mail::notify::Letter {
        subject: them.s("reset-mail-subject"),
        text,
        html,
    };
    if let Err(e) =
        crate::mail::notify::mail_agent(&state, &inbox, &agent, letter, &key, None).await
    {
        tracing::warn!(agent = %id, error = %e, "could not mail a password-reset link");
    }
}

#[derive(askama::Template)]
#[template(path = "reset.html")]
struct ResetPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    /// Empty when the link is used or expired.
    token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

fn reset_page(
    state: &Shared,
    headers: &HeaderMap,
    token: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = login_token(state, headers);
    let page = ResetPage {
        t: tr_from(headers),
        me: None,
        languages: LANGUAGES,
        csrf,
        token,
        error,
    };
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

/// The link's page: a form for the new password, or word that the link no longer works.
pub async fn page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ResetQuery>,
) -> Result<Response, PageError> {
    let hash = sha256_hex(q.token.as_bytes());
    let valid = state
        .store
        .read(op!(c => agents::reset_agent(c, &hash).await))
        .await
        .map_err(|e| PageError(e.into(), tr_from(&headers)))?
        .is_some();
    let (token, status) = if valid {
        (q.token, StatusCode::OK)
    } else {
        (String::new(), StatusCode::GONE)
    };
    Ok(reset_page(&state, &headers, token, None, status))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

/// Sets the new password and spends the link; then the agent logs in with it.
pub async fn reset(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Result<Response, PageError> {
    let t = tr_from(&headers);
    if !login_token_ok(&headers, &form.csrf) {
        return Err(PageError(
            Problem::forbidden("the form expired; please try again"),
            t,
        ));
    }
    let problem = if form.password.chars().count() < 10 {
        Some(t.s("password-short"))
    } else if form.password != form.again {
        Some(t.s("password-mismatch"))
    } else {
        None
    };
    if let Some(error) = problem {
        return Ok(reset_page(
            &state,
            &headers,
            form.token,
            Some(error),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let password = form.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| PageError(Problem::internal(), t))?
        .map_err(|p| PageError(p, t))?;
    let token_hash = sha256_hex(form.token.as_bytes());
    let done = state
        .store
        .write(op!(c => agents::reset_with_link(c, &token_hash, hash).await))
        .await;
    match done {
        Ok(_) => Ok(Redirect::to("/login?reset=1").into_response()),
        Err(seva_store::Error::Invalid { .. }) => Ok(reset_page(
            &state,
            &headers,
            String::new(),
            None,
            StatusCode::GONE,
        )),
        Err(e) => Err(PageError(e.into(), t)),
    }
}
