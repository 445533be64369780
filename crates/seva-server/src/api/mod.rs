//! The REST API under `/api/v1`: JSON in and out, errors as problem documents, described
//! by an OpenAPI 3.1 document generated from these handlers (`/api/openapi.json`).

pub mod contacts;
pub mod conversations;
pub mod events;
pub mod inboxes;
pub mod knowledge;
pub mod openapi;
pub mod routing;
pub mod rules;
pub mod sla;
mod strict;
pub mod teams;
pub mod tokens;
pub mod tools;
pub mod webhooks;
pub mod work;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use seva_store::idempotency::{self, Stored};
use seva_store::{BoxFuture, Conn};

use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use strict::Strict;

pub(crate) use conversations::present;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/openapi.json", get(openapi::serve))
        .merge(conversations::router())
        .merge(contacts::router())
        .merge(teams::router())
        .merge(tokens::router())
        .merge(inboxes::router())
        .merge(sla::router())
        .merge(routing::router())
        .merge(rules::router())
        .merge(work::router())
        .merge(webhooks::router())
        .merge(tools::router())
        .merge(events::router())
        .merge(knowledge::router())
}

/// A JSON body whose errors name the field at fault (`contact.email: invalid type …`).
pub struct ApiJson<T>(pub T, pub Bytes);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                )
            } else {
                Problem::new(StatusCode::BAD_REQUEST, e.body_text())
            }
        })?;
        // The usual body is read once, without tracking where the reader is; only one
        // that fails is read again, to name the field at fault.
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        if let Ok(value) = <T as serde::Deserialize>::deserialize(Strict(&mut de))
            && de.end().is_ok()
        {
            return Ok(Self(value, bytes));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(Strict(&mut de)) {
            // Read whole the second time: what failed the first was what follows it.
            Ok(value) => match de.end() {
                Ok(()) => Ok(Self(value, bytes)),
                Err(e) => Err(Problem::bad_request(
                    "body",
                    format!("the body is not valid JSON: {e}"),
                )),
            },
            Err(e) => {
                let inner = e.inner();
                let detail = if inner.is_syntax() || inner.is_eof() {
                    format!("the body is not valid JSON: {inner}")
                } else {
                    inner.to_string()
                };
                Err(Problem::bad_request(
                    field_at(e.path(), &inner.to_string(), "body"),
                    detail,
                ))
            }
        }
    }
}

/// A query string whose errors name the parameter at fault, as a problem document
/// (axum's own `Query` answers them in plain text).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        urlencoded(query.as_bytes(), "query")
            .map(Self)
            .map_err(|(field, detail)| Problem::bad_request(field, detail))
    }
}

/// Reads form fields (a query string, a form's body); when they cannot be read, the field
/// at fault (or `whole`) and serde's words for what is wrong.
pub(crate) fn urlencoded<T: DeserializeOwned>(
    input: &[u8],
    whole: &str,
) -> Result<T, (String, String)> {
    let fields = serde_urlencoded::Deserializer::new(form_urlencoded::parse(input));
    serde_path_to_error::deserialize(fields).map_err(|e| {
        let detail = e.inner().to_string();
        (field_at(e.path(), &detail, whole), detail)
    })
}

/// The field a deserializer stopped at: the missing (or repeated) field itself where one is,
/// else the path to the value at fault, else `whole`.
fn field_at(path: &serde_path_to_error::Path, message: &str, whole: &str) -> String {
    let path = path.to_string();
    let top = path == "." || path == "?";
    // A missing (or repeated) field is reported at the object that holds it: name the
    // field.
    let missing = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("duplicate field `"))
        .and_then(|rest| rest.split('`').next());
    match (missing, top) {
        (Some(name), true) => name.to_string(),
        (Some(name), false) => format!("{path}.{name}"),
        (None, true) => whole.to_string(),
        (None, false) => path,
    }
}

pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

/// Runs a create operation so that a retry with the same `Idempotency-Key` header returns
/// the first answer instead of creating again. The key and the answer are stored in the
/// same transaction as what was created.
pub async fn create_once<F>(
    state: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    make: F,
) -> Result<Response, Problem>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, seva_store::Result<Stored>>
        + Send
        + 'static,
{
    let key = idempotency_key(caller, headers, body)?;
    let stored = state
        .store
        .write(
            move |conn: &mut dyn Conn| -> BoxFuture<'_, seva_store::Result<Stored>> {
                Box::pin(async move { remembered(conn, key.as_ref(), make).await })
            },
        )
        .await?;
    Ok(answer(stored))
}

/// [`create_once`] for a create that may be run again (see
/// [`seva_store::Store::write_repeatable`]), as the hot creates are: SQLite's writer then
/// needs no savepoint for it.
pub async fn create_once_repeatable<F>(
    state: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    make: F,
) -> Result<Response, Problem>
where
    F: for<'c> Fn(&'c mut dyn Conn) -> BoxFuture<'c, seva_store::Result<Stored>>
        + Send
        + Sync
        + 'static,
{
    let key = std::sync::Arc::new(idempotency_key(caller, headers, body)?);
    let make = std::sync::Arc::new(make);
    let stored = state
        .store
        .write_repeatable(
            move |conn: &mut dyn Conn| -> BoxFuture<'_, seva_store::Result<Stored>> {
                let (key, make) = (key.clone(), make.clone());
                Box::pin(async move { remembered(conn, key.as_ref().as_ref(), &*make).await })
            },
        )
        .await?;
    Ok(answer(stored))
}

/// An `Idempotency-Key` header, as (key, the caller's scope, the body's hash).
type IdempotencyKey = (String, String, String);

fn idempotency_key(
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| Problem::bad_request("Idempotency-Key", "the key must be visible ASCII"))?;
    if k.is_empty() || k.len() > 200 {
        return Err(Problem::bad_request(
            "Idempotency-Key",
            "the key has 1 to 200 characters",
        ));
    }
    // The key belongs to the caller; the body's hash tells a retry from a reuse.
    Ok(Some((
        k.to_string(),
        caller.actor(),
        crate::auth::sha256_hex(body),
    )))
}

/// The answer stored under `key`, or `make`'s, stored under it.
async fn remembered<F>(
    conn: &mut dyn Conn,
    key: Option<&IdempotencyKey>,
    make: F,
) -> seva_store::Result<Stored>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, seva_store::Result<Stored>>,
{
    if let Some((k, scope, hash)) = key
        && let Some(stored) = idempotency::lookup(conn, scope, k, hash).await?
    {
        return Ok(stored);
    }
    let stored = make(conn).await?;
    if let Some((k, scope, hash)) = key {
        idempotency::remember(conn, scope, k, hash, &stored).await?;
    }
    Ok(stored)
}

fn answer(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let kind = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    (
        status,
        [(axum::http::header::CONTENT_TYPE, kind)],
        stored.body,
    )
        .into_response()
}

/// A stored answer for [`create_once`].
pub fn stored(status: StatusCode, value: &impl serde::Serialize) -> seva_store::Result<Stored> {
    let body =
        serde_json::to_string(value).map_err(|e| seva_store::Error::Backend(e.to_string()))?;
    Ok(Stored {
        status: status.as_u16(),
        body,
    })
}

/// Parses an id from the path, naming the parameter when it is not one.
pub fn parse_id<T: std::str::FromStr>(field: &'static str, raw: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| {
        Problem::field(
            StatusCode::NOT_FOUND,
            field,
            format!("{raw:?} is not an id"),
        )
    })
}
