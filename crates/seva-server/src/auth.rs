//! Who is calling: an agent with a browser session (cookie, plus a CSRF token on every
//! change) or a script with an API token (`Authorization: Bearer …`). Passwords are
//! argon2id; session and API tokens are random 256-bit values stored as SHA-256 hashes.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use seva_store::agents::Agent;
use seva_store::conversations::Viewer;
use sha2::{Digest, Sha256};

use crate::problem::Problem;
use crate::{AppState, Shared};

pub const SESSION_COOKIE: &str = "seva_session";
/// Sessions last two weeks; a login on a shared computer ends with "log out".
pub const SESSION_SECONDS: i64 = 14 * 24 * 3600;

/// A new random secret, hex encoded.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex(&bytes)
}

/// A password a person can type once: 16 letters and digits, no look-alikes.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Lower-case hex, two digits a byte. Every API request hashes its token with this, so
/// it looks digits up rather than going through the formatter.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// argon2id with the crate's recommended parameters. Slow on purpose: call it from a
/// blocking task.
pub fn hash_password(password: &str) -> Result<String, Problem> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| Problem::internal())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A password hash to compare against when the account does not exist, so that a wrong
/// email takes as long as a wrong password and does not reveal which accounts exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-matches").unwrap_or_default())
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The client's address, for rate limits.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Debug, Clone)]
pub enum Via {
    Session { csrf: String },
    Token,
}

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct Caller {
    pub agent: Agent,
    pub via: Via,
}

impl Caller {
    pub fn viewer(&self) -> Viewer {
        self.agent.viewer()
    }

    /// How the event log names what this caller does: `agent:<id>`.
    pub fn actor(&self) -> String {
        format!("agent:{}", self.agent.id)
    }

    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.agent.role.manages_users() {
            Ok(())
        } else {
            Err(Problem::forbidden("only an admin may do this"))
        }
    }

    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf } => csrf,
            Via::Token => "",
        }
    }
}

/// Finds the caller from the request's token or session cookie.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, Problem> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let Some(token) = value.strip_prefix("Bearer ") else {
            return Err(Problem::unauthorized());
        };
        let hash = sha256_hex(token.trim().as_bytes());
        let agent = match state.tokens.get(&hash) {
            Some(agent) => Some(agent),
            None => {
                let key = hash.clone();
                let found = state
                    .store
                    .read(seva_store::op!(c => seva_store::agents::by_token(c, &key).await))
                    .await?;
                found.map(|(agent, last_used)| {
                    note_use(state, &hash, last_used);
                    state.tokens.put(hash, agent.clone());
                    agent
                })
            }
        };
        return match agent {
            Some(agent) => Ok(Some(Caller {
                agent,
                via: Via::Token,
            })),
            None => Err(Problem::unauthorized()),
        };
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = sha256_hex(token.as_bytes());
    let session = state
        .store
        .read(seva_store::op!(c => seva_store::agents::session(c, &hash).await))
        .await?;
    Ok(session.map(|s| Caller {
        agent: s.agent,
        via: Via::Session { csrf: s.csrf },
    }))
}

/// Writes down that a token is in use when what is written is older than
/// [`agents::TOKEN_USE_EVERY`](seva_store::agents::TOKEN_USE_EVERY). The request does not
/// wait for it: it is bookkeeping, and a lost note is made again at the next use.
fn note_use(state: &AppState, hash: &str, last_used: Option<seva_core::time::Timestamp>) {
    let every = seva_store::agents::TOKEN_USE_EVERY;
    if last_used.is_some_and(|at| at > seva_store::now().plus_seconds(-every)) {
        return;
    }
    let (store, hash) = (state.store.clone(), hash.to_string());
    tokio::spawn(async move {
        let noted = store
            .write(seva_store::op!(c => seva_store::agents::token_used(c, &hash).await))
            .await;
        if let Err(e) = noted {
            tracing::debug!(error = %e, "a token's last use was not written");
        }
    });
}

/// For the API: a session caller changing anything must send its CSRF token in the
/// `X-CSRF-Token` header (a cross-site form cannot set headers); token callers need none.
impl FromRequestParts<Shared> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Problem> {
        let caller = authenticate(state, &parts.headers)
            .await?
            .ok_or_else(Problem::unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Via::Session { csrf } = &caller.via
            && !safe
        {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(Problem::forbidden(
                    "missing or wrong CSRF token (send it as X-CSRF-Token)",
                ));
            }
        }
        // Counted once the call is known to be the agent's own: a forged cross-site call
        // must not spend their budget.
        spend_call(state, &caller)?;
        Ok(caller)
    }
}

/// Counts an API call against its agent's budget (`api_calls_per_minute`), or refuses it
/// with 429 and `Retry-After` when the budget is spent. Per agent, not per token: an
/// agent's tokens and browser session share one.
fn spend_call(state: &AppState, caller: &Caller) -> Result<(), Problem> {
    let now = seva_store::now().micros();
    let spent = state
        .api_calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .spend(caller.agent.id, now);
    spent.map_err(|wait| {
        state
            .metrics
            .api_calls_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Problem::too_many(
            format!(
                "more than {} calls in a minute; try again after Retry-After seconds",
                state.config.api_calls_per_minute
            ),
            wait,
        )
    })
}

/// Recently checked API tokens, so that a script making many calls does not cost a
/// database read each. An entry lives one second at most, and every change to agents,
/// teams or tokens made by this process clears the cache at once; a change made by
/// another process (the `seva` command line, another node) takes effect within a second.
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Agent, std::time::Instant)>>,
}

impl TokenCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX: usize = 10_000;

    pub fn get(&self, hash: &str) -> Option<Agent> {
        let entries = self.entries.lock().ok()?;
        let (agent, at) = entries.get(hash)?;
        (at.elapsed() < Self::TTL).then(|| agent.clone())
    }

    pub fn put(&self, hash: String, agent: Agent) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::MAX {
                entries.retain(|_, (_, at)| at.elapsed() < Self::TTL);
            }
            if entries.len() < Self::MAX {
                entries.insert(hash, (agent, std::time::Instant::now()));
            }
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// Whether an event may change who a token belongs to or what they may see.
    pub fn invalidated_by(kind: &str) -> bool {
        kind.starts_with("agent.") || kind.starts_with("team.") || kind.starts_with("token.")
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        // SHA-256 of "abc", from FIPS 180-2.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(new_password().len(), 16);
    }
}
