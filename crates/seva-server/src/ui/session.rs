//! Logging in and out, and the agent's language.

use std::sync::atomic::Ordering;

use super::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_store::{agents, op};

use super::{Agent, CsrfForm, Me, PageError, render};
use crate::Shared;
use crate::auth::{self, SESSION_COOKIE, SESSION_SECONDS, constant_time_eq, sha256_hex};
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

/// The login form's CSRF token travels in a cookie and in the form (double submit), so a
/// third-party page cannot log a browser into an account of the attacker's choosing.
const LOGIN_COOKIE: &str = "seva_login";

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    email: String,
    error: Option<String>,
    /// Said above the form, e.g. that a new password is set.
    notice: Option<String>,
}

pub(super) fn tr_from(headers: &HeaderMap) -> Tr {
    Tr::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// Shows the login form. Its token is the one the browser already holds, when it holds
/// one: a second login page loaded meanwhile (another tab, a page's own background fetch
/// sent to the login page once its session ended) must not make the first one's form
/// stale.
fn login_form(
    state: &Shared,
    headers: &HeaderMap,
    email: String,
    (error, notice): (Option<String>, Option<String>),
    status: axum::http::StatusCode,
) -> Response {
    let t = tr_from(headers);
    let (csrf, cookie) = login_token(state, headers);
    let page = LoginPage {
        t,
        me: None,
        languages: LANGUAGES,
        csrf,
        email,
        error,
        notice,
    };
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

/// The token of the pages under `/login` (logging in, a forgotten password): the one the
/// browser holds, or a new one; with the cookie that carries it.
pub(super) fn login_token(state: &Shared, headers: &HeaderMap) -> (String, String) {
    let csrf = auth::cookie(headers, LOGIN_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(auth::new_secret);
    let cookie = format!(
        "{LOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict{}",
        secure(state)
    );
    (csrf, cookie)
}

/// Whether a form under `/login` came with the browser's own token.
pub(super) fn login_token_ok(headers: &HeaderMap, form_csrf: &str) -> bool {
    let cookie = auth::cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    !cookie.is_empty() && constant_time_eq(cookie.as_bytes(), form_csrf.as_bytes())
}

pub(super) fn secure(state: &Shared) -> &'static str {
    if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    reset: Option<String>,
}

pub async fn login_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    super::Query(q): super::Query<LoginQuery>,
) -> Response {
    let notice = q.reset.map(|_| tr_from(&headers).s("login-reset-done"));
    login_form(
        &state,
        &headers,
        String::new(),
        (None, notice),
        axum::http::StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = tr_from(&headers);
    if !login_token_ok(&headers, &form.csrf) {
        return PageError(
            Problem::forbidden("the login form expired; please try again"),
            t,
        )
        .into_response();
    }
    let email = form.email.trim().to_lowercase();
    let keys = failure_keys(addr, &email);
    if let Err(limited) = not_limited(&state, &keys, t) {
        return limited.into_response();
    }
    let lookup = email.clone();
    let agent = match state
        .store
        .read(op!(c => agents::by_email(c, &lookup).await))
        .await
    {
        Ok(a) => a,
        Err(e) => return PageError(e.into(), t).into_response(),
    };
    let password = form.password;
    let hash = agent
        .as_ref()
        .filter(|a| !a.disabled)
        .and_then(|a| a.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => auth::verify_password(&password, &h),
        None => {
            // Same work as a real check, so timing does not tell which accounts exist.
            auth::verify_password(&password, auth::decoy_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(agent) = agent.filter(|_| ok) else {
        failed(&state, addr, keys);
        return login_form(
            &state,
            &headers,
            email,
            (Some(t.s("login-failed")), None),
            axum::http::StatusCode::UNAUTHORIZED,
        );
    };
    if agent.two_step {
        // The password was right; the code from the agent's app comes next.
        return super::account::ask_for_code(&state, agent.id);
    }
    start_session(&state, &agent, t, &headers, addr).await
}

/// Logs the browser in as `agent`: a new session (with where it came from), its cookie,
/// and on to the inbox (or to choosing a password, when theirs was for one use).
pub(super) async fn start_session(
    state: &Shared,
    agent: &agents::Agent,
    t: Tr,
    headers: &HeaderMap,
    addr: std::net::SocketAddr,
) -> Response {
    let token = auth::new_secret();
    let csrf = auth::new_secret();
    let hash = sha256_hex(token.as_bytes());
    let expires = seva_store::now().plus_seconds(SESSION_SECONDS);
    let id = agent.id;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ip = addr.ip().to_string();
    if let Err(e) = state
        .store
        .write(op!(c => {
            let device = agents::Device { user_agent: &user_agent, ip: &ip };
            agents::create_session(c, id, &hash, &csrf, expires, device).await
        }))
        .await
    {
        return PageError(e.into(), t).into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_SECONDS}{}",
        secure(state)
    );
    let next = if agent.must_change_password {
        "/me/password"
    } else {
        "/inbox"
    };
    ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
}

/// The hash of the browser's session token, as sessions are stored (empty without one).
pub(super) fn session_hash(headers: &HeaderMap) -> String {
    auth::cookie(headers, SESSION_COOKIE)
        .map(|token| sha256_hex(token.as_bytes()))
        .unwrap_or_default()
}

/// What failed logins are counted under: the address they came from and the account.
pub(super) fn failure_keys(addr: std::net::SocketAddr, email: &str) -> [String; 2] {
    [format!("ip:{}", addr.ip()), format!("account:{email}")]
}

/// Refuses (429) when either key has had too many failures lately: wrong passwords, wrong
/// codes and wrong current passwords all count, so none of them can be guessed at speed.
pub(super) fn not_limited(state: &Shared, keys: &[String; 2], t: Tr) -> Result<(), PageError> {
    let now = seva_store::now().micros();
    let mut failures = state
        .login_failures
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match keys.iter().filter_map(|k| failures.wait(k, now)).max() {
        Some(wait) => Err(PageError(Problem::too_many(t.s("login-too-many"), wait), t)),
        None => Ok(()),
    }
}

/// Counts a failed attempt under both keys.
pub(super) fn failed(state: &Shared, addr: std::net::SocketAddr, keys: [String; 2]) {
    state.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
    tracing::info!(ip = %addr.ip(), "failed login");
    let now = seva_store::now().micros();
    let mut failures = state
        .login_failures
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    for key in keys {
        // A key already over its limit has nothing more to count.
        let _ = failures.hit(key, now);
    }
}

pub async fn logout(
    State(state): State<Shared>,
    agent: Agent,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let hash = session_hash(&headers);
    state
        .store
        .write(op!(c => agents::end_session(c, &hash).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    language: String,
}

pub async fn set_language(
    State(state): State<Shared>,
    agent: Agent,
    headers: HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let lang = Tr::new(&form.language).lang;
    let id = agent.0.agent.id;
    state
        .store
        .write(op!(c => agents::set_language(c, id, lang).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    // Back to the page the picker was on, if it was one of ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix(&state.config.public_url))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or("/inbox")
        .to_string();
    Ok(Redirect::to(&back).into_response())
}

#[derive(askama::Template)]
#[template(path = "password.html")]
struct PasswordPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    error: Option<String>,
    /// A password chosen before is changed only by who knows it; a one-time one was just
    /// typed to log in.
    ask_current: bool,
}

fn password_form(agent: &Agent, error: Option<String>) -> Response {
    let page = PasswordPage {
        t: agent.tr(),
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        ask_current: !agent.0.agent.must_change_password,
        error,
    };
    if page.error.is_some() {
        (axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
    } else {
        render(&page)
    }
}

pub async fn password_page(agent: Agent) -> Response {
    password_form(&agent, None)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

/// Sets the agent's password: after a one-time one, or a change (which needs the current
/// password, counted as a login attempt when wrong). Their other sessions end.
pub async fn set_password(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    agent: Agent,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let problem = if form.password.chars().count() < 10 {
        Some(t.s("password-short"))
    } else if form.password != form.again {
        Some(t.s("password-mismatch"))
    } else {
        None
    };
    if let Some(error) = problem {
        return Ok(password_form(&agent, Some(error)));
    }
    if !agent.0.agent.must_change_password {
        let keys = failure_keys(addr, &agent.0.agent.email);
        not_limited(&state, &keys, t)?;
        let (current, hash) = (form.current, agent.0.agent.password_hash.clone());
        let right = tokio::task::spawn_blocking(move || {
            hash.is_some_and(|h| auth::verify_password(&current, &h))
        })
        .await
        .unwrap_or(false);
        if !right {
            failed(&state, addr, keys);
            return Ok(password_form(&agent, Some(t.s("password-current-wrong"))));
        }
    }
    let password = form.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| PageError(Problem::internal(), t))?
        .map_err(|p| PageError(p, t))?;
    let id = agent.0.agent.id;
    let keep = session_hash(&headers);
    state
        .store
        .write(op!(c => {
            agents::set_password(c, id, hash).await?;
            agents::end_other_sessions(c, id, &keep).await
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to(if agent.0.agent.must_change_password {
        "/inbox"
    } else {
        "/settings?saved=1"
    })
    .into_response())
}

/// Logs the agent out of every browser but this one.
pub async fn end_other_sessions(
    State(state): State<Shared>,
    agent: Agent,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let id = agent.0.agent.id;
    let keep = session_hash(&headers);
    state
        .store
        .write(op!(c => agents::end_other_sessions(c, id, &keep).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to("/settings?saved=1#account-h").into_response())
}
