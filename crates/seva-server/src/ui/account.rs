//! Two-step verification in the browser: an agent turns it on (a key for their
//! authenticator app, shown as a QR code, confirmed by a first code, then ten recovery
//! codes shown once) or off; the login asks for a code after the password; an admin turns
//! it off for an agent who lost their phone. Where the desk requires it (`require_two_step`),
//! the pages send an agent who has not set it up here first (`super::Agent`).

use super::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use seva_core::AgentId;
use seva_store::{agents, op};

use super::session::{failed, failure_keys, login_token_ok, not_limited, secure, tr_from};
use super::{Agent, CsrfForm, Me, PageError, render};
use crate::Shared;
use crate::auth;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;
use crate::two_step;

/// Says, between the password and the code, whose password was right: the agent's id and
/// until when, signed with the server's key. It opens nothing but the code's form.
const STEP_COOKIE: &str = "seva_step";

/// How long the code's form waits after the password.
const STEP_SECONDS: i64 = 300;

fn step_mac(state: &Shared, payload: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&state.key.derive("login-step"))
        .expect("any key length");
    mac.update(payload.as_bytes());
    auth::hex(&mac.finalize().into_bytes())
}

/// After a right password, for an agent with two-step verification: on to the code.
pub(super) fn ask_for_code(state: &Shared, agent: AgentId) -> Response {
    let until = seva_store::now().micros() / 1_000_000 + STEP_SECONDS;
    let payload = format!("{agent}.{until}");
    let cookie = format!(
        "{STEP_COOKIE}={payload}.{}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={STEP_SECONDS}{}",
        step_mac(state, &payload),
        secure(state)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login/code")).into_response()
}

/// The agent whose password was right, if the cookie is ours and not stale.
fn stepped(state: &Shared, headers: &HeaderMap) -> Option<AgentId> {
    let value = auth::cookie(headers, STEP_COOKIE)?;
    let (payload, mac) = value.rsplit_once('.')?;
    if !auth::constant_time_eq(step_mac(state, payload).as_bytes(), mac.as_bytes()) {
        return None;
    }
    let (agent, until) = payload.split_once('.')?;
    let until: i64 = until.parse().ok()?;
    (until >= seva_store::now().micros() / 1_000_000).then_some(())?;
    agent.parse().ok()
}

#[derive(askama::Template)]
#[template(path = "login_code.html")]
struct CodePage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    error: Option<String>,
}

fn code_form(headers: &HeaderMap, state: &Shared, error: Option<String>) -> Response {
    let (csrf, cookie) = super::session::login_token(state, headers);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let page = CodePage {
        t: tr_from(headers),
        me: None,
        languages: LANGUAGES,
        csrf,
        error,
    };
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

pub async fn code_page(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if stepped(&state, &headers).is_none() {
        return Redirect::to("/login").into_response();
    }
    code_form(&headers, &state, None)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Checks the code from the app (each good once) or a recovery code (each good once), and
/// logs the browser in. Wrong codes count as failed logins, for the address and the account.
pub async fn check_code(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let t = tr_from(&headers);
    if !login_token_ok(&headers, &form.csrf) {
        return Err(PageError(
            Problem::forbidden("the login form expired; please try again"),
            t,
        ));
    }
    let Some(id) = stepped(&state, &headers) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let agent = state
        .store
        .read(op!(c => agents::get(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    if agent.disabled || !agent.two_step {
        return Ok(Redirect::to("/login").into_response());
    }
    let keys = failure_keys(addr, &agent.email);
    not_limited(&state, &keys, t)?;
    if !take_code(&state, id, &form.code)
        .await
        .map_err(|p| PageError(p, t))?
    {
        failed(&state, addr, keys);
        return Ok(code_form(&headers, &state, Some(t.s("two-step-wrong"))));
    }
    let mut answer = super::session::start_session(&state, &agent, t, &headers, addr).await;
    let gone = format!("{STEP_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&gone) {
        answer.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(answer)
}

/// Whether `code` is right for the agent now, taking it as used: a code from their app (not
/// one already used) or one of their unused recovery codes.
async fn take_code(state: &Shared, id: AgentId, code: &str) -> Result<bool, Problem> {
    if two_step::is_recovery_code(code) {
        let hash = two_step::recovery_hash(code);
        return Ok(state
            .store
            .write(op!(c => agents::use_recovery_code(c, id, &hash).await))
            .await?);
    }
    let Some(step) = right_step(state, id, code).await? else {
        return Ok(false);
    };
    Ok(state
        .store
        .write(op!(c => agents::use_step(c, id, step).await))
        .await?)
}

/// The time step a code from the app stands for, when it is right for the agent's key (on,
/// or offered while they set it up).
async fn right_step(state: &Shared, id: AgentId, code: &str) -> Result<Option<i64>, Problem> {
    let (_, key) = key_of(state, id).await?;
    Ok(key.and_then(|key| two_step::check(&key, code, step_now())))
}

/// Whether two-step verification is on for the agent, and their app's key (on, or offered
/// while they set it up), opened.
async fn key_of(state: &Shared, id: AgentId) -> Result<(bool, Option<String>), Problem> {
    let found = state
        .store
        .read(op!(c => agents::two_step(c, id).await))
        .await?;
    let key = match found.sealed_key {
        Some(sealed) => Some(state.key.open(&sealed).map_err(|e| {
            tracing::error!(error = %e, "an authenticator key could not be opened");
            Problem::internal()
        })?),
        None => None,
    };
    Ok((found.on, key))
}

fn step_now() -> i64 {
    two_step::step_of(seva_store::now().micros() / 1_000_000)
}

// --- the agent's own page ---------------------------------------------------------------

enum Shown {
    Off,
    /// Setting up: the QR code (SVG) and the key as text.
    Setup {
        qr: String,
        key: String,
    },
    /// Just turned on: the recovery codes, shown this once.
    Codes(Vec<String>),
    On {
        codes_left: i64,
    },
}

#[derive(askama::Template)]
#[template(path = "two_step.html")]
struct TwoStepPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    shown: Shown,
    error: Option<String>,
    /// The desk requires it of this agent: it cannot be turned off.
    required: bool,
}

fn two_step_page(state: &Shared, agent: &Agent, shown: Shown, error: Option<String>) -> Response {
    // A page with a key or recovery codes is kept by no cache.
    let secret = matches!(shown, Shown::Setup { .. } | Shown::Codes(_));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = render(&TwoStepPage {
        t: agent.tr(),
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        shown,
        error,
        required: state.config.require_two_step.applies_to(agent.0.agent.role),
    });
    if secret {
        (status, [(header::CACHE_CONTROL, "no-store")], page).into_response()
    } else {
        (status, page).into_response()
    }
}

async fn current(state: &Shared, agent: &Agent) -> Result<Shown, PageError> {
    let id = agent.0.agent.id;
    let found = state
        .store
        .read(op!(c => agents::two_step(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(if found.on {
        Shown::On {
            codes_left: found.codes_left,
        }
    } else {
        Shown::Off
    })
}

pub async fn page(State(state): State<Shared>, agent: Agent) -> Result<Response, PageError> {
    let shown = current(&state, &agent).await?;
    Ok(two_step_page(&state, &agent, shown, None))
}

fn setup(agent: &Agent, key: String) -> Shown {
    let uri = two_step::uri("Seva", &agent.0.agent.email, &key);
    Shown::Setup {
        qr: two_step::qr_svg(&uri),
        key: two_step::grouped(&key),
    }
}

/// A new key for the agent's app, kept until they confirm it with a code.
pub async fn start(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let key = two_step::new_key();
    let (id, sealed) = (agent.0.agent.id, state.key.seal(&key));
    state
        .store
        .write(op!(c => agents::offer_two_step(c, id, &sealed).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(two_step_page(&state, &agent, setup(&agent, key), None))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Turns two-step verification on once the app gives a right code; shows the recovery codes.
pub async fn turn_on(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = agent.0.agent.id;
    let (on, key) = key_of(&state, id).await.map_err(|p| PageError(p, t))?;
    let Some(key) = key.filter(|_| !on) else {
        return Ok(Redirect::to("/me/two-step").into_response());
    };
    let Some(step) = two_step::check(&key, &form.code, step_now()) else {
        let shown = setup(&agent, key);
        return Ok(two_step_page(
            &state,
            &agent,
            shown,
            Some(t.s("two-step-wrong")),
        ));
    };
    let codes = two_step::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| two_step::recovery_hash(c)).collect();
    state
        .store
        .write(op!(c => agents::turn_on_two_step(c, id, step, &hashes).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    // Cached token checks hold the agent as it was: forget them before answering.
    state.tokens.clear();
    Ok(two_step_page(&state, &agent, Shown::Codes(codes), None))
}

/// Turns two-step verification off, with a code from the app or a recovery code (counted as
/// a login attempt when wrong: a borrowed session must not switch it off by guessing).
pub async fn turn_off(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    agent: Agent,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = agent.0.agent.id;
    if state.config.require_two_step.applies_to(agent.0.agent.role) {
        let shown = current(&state, &agent).await?;
        return Ok(two_step_page(
            &state,
            &agent,
            shown,
            Some(t.s("two-step-required")),
        ));
    }
    let keys = failure_keys(addr, &agent.0.agent.email);
    not_limited(&state, &keys, t)?;
    if !take_code(&state, id, &form.code)
        .await
        .map_err(|p| PageError(p, t))?
    {
        failed(&state, addr, keys);
        let shown = current(&state, &agent).await?;
        return Ok(two_step_page(
            &state,
            &agent,
            shown,
            Some(t.s("two-step-wrong")),
        ));
    }
    let actor = format!("agent:{id}");
    state
        .store
        .write(op!(c => agents::turn_off_two_step(c, id, &actor).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    state.tokens.clear();
    Ok(Redirect::to("/settings?saved=1").into_response())
}
