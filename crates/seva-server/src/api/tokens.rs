//! `/api/v1/tokens`: the API tokens scripts and integrations log in with (admins only).
//! A token's secret is shown once, when it is made; the store keeps only its hash.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use seva_core::{AgentId, TokenId};
use seva_store::agents::{self, Token};
use seva_store::idempotency;
use seva_store::op;
use utoipa::ToSchema;

use super::{ApiJson, answer, idempotency_key, json, parse_id, stored};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{id}/revoke", post(revoke))
}

/// Every API token, working ones first: never a secret (admins).
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_tokens", tag = "tokens",
    responses((status = 200, body = Vec<Token>), (status = 403, body = Problem)))]
pub async fn list(State(state): State<Shared>, caller: Caller) -> Result<Response, Problem> {
    caller.require_admin()?;
    let list = state
        .store
        .read(op!(c => agents::list_tokens(c).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The agent the token acts as: it may do what they may, no more.
    pub agent_id: AgentId,
    /// What it is for, 1 to 100 characters.
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]",
        max_length = 100
    )]
    pub name: String,
}

/// A token just made, with its secret: the only time anyone sees it.
#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    #[serde(flatten)]
    pub token: Token,
    /// Send it as `Authorization: Bearer <token>`.
    pub secret: String,
}

/// Make a token for an agent (admins). The answer holds its secret, shown only this once.
/// A retry with the same `Idempotency-Key` makes no second token: it is answered 409 with
/// the first one's id, since its secret is not kept to be shown again.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "create_token", request_body = NewToken, tag = "tokens",
    responses((status = 201, body = TokenIssued), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<NewToken>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let key = idempotency_key(&caller, &headers, &raw)?;
    let issued = issue(&state, &caller, body.agent_id, &body.name, key).await?;
    Ok(match issued {
        Issued::New(issued) => json(StatusCode::CREATED, &issued),
        Issued::Again(replay) => answer(replay),
    })
}

pub(crate) enum Issued {
    New(TokenIssued),
    /// The stored answer to a retry of an earlier create.
    Again(idempotency::Stored),
}

/// Makes a token: for the API, the People page and its tests alike. With an idempotency
/// key, the key is stored with the token in one transaction, remembering a refusal that
/// names the token rather than its secret.
pub(crate) async fn issue(
    state: &Shared,
    caller: &Caller,
    agent: AgentId,
    name: &str,
    key: Option<super::IdempotencyKey>,
) -> Result<Issued, Problem> {
    let secret = crate::auth::new_secret();
    let hash = crate::auth::sha256_hex(secret.as_bytes());
    let (name, actor) = (name.to_string(), caller.actor());
    let made = state
        .store
        .write(op!(c => {
            if let Some((k, scope, body)) = &key
                && let Some(replay) = idempotency::lookup(c, scope, k, body).await?
            {
                return Ok(Err(replay));
            }
            let token = agents::create_token(c, agent, &name, &hash, &actor).await?;
            if let Some((k, scope, body)) = &key {
                let refusal = Problem::field(
                    StatusCode::CONFLICT,
                    "Idempotency-Key",
                    format!(
                        "token {} was made with this key; its secret was shown once and is not kept",
                        token.id
                    ),
                );
                idempotency::remember(c, scope, k, body, &stored(StatusCode::CONFLICT, &refusal)?)
                    .await?;
            }
            Ok(Ok(token))
        }))
        .await?;
    // No cached check can be of a token just made: the cache is left as it is.
    Ok(match made {
        Ok(token) => Issued::New(TokenIssued { token, secret }),
        Err(replay) => Issued::Again(replay),
    })
}

/// Revoke a token: it stops working at once (admins). Revoking it again changes nothing.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "tokens",
    responses((status = 200, body = Token), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: TokenId = parse_id("id", &id)?;
    let token = revoke_token(&state, &caller, id).await?;
    Ok(json(StatusCode::OK, &token))
}

pub(crate) async fn revoke_token(
    state: &Shared,
    caller: &Caller,
    id: TokenId,
) -> Result<Token, Problem> {
    let actor = caller.actor();
    let token = state
        .store
        .write(op!(c => agents::revoke_token(c, id, &actor).await))
        .await?;
    state.tokens.clear();
    Ok(token)
}
