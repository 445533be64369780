//! A page's form and query string. One that cannot be read is answered with the error page,
//! naming the field at fault, in the language of the agent whose session sent it (or, with
//! no session, the language the browser asks for); axum's own `Form` and `Query` answer in
//! English plain text. Pages use these in place of axum's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::PageError;
use super::session::tr_from;
use crate::Shared;
use crate::i18n::Tr;
use crate::problem::Problem;

/// A form posted as browsers post one (`application/x-www-form-urlencoded`), or the query
/// string of a `GET`.
pub struct Form<T>(pub T);

/// The query string.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, PageError> {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            let refusal = match read(req.uri().query().unwrap_or_default().as_bytes()) {
                Ok(value) => return Ok(Self(value)),
                Err(refusal) => refusal,
            };
            return Err(refusal.in_language(state, req.headers()).await);
        }
        if !is_form(req.headers()) {
            let refusal = Refusal::Unreadable(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            return Err(refusal.in_language(state, req.headers()).await);
        }
        let headers = req.headers().clone();
        let refusal = match Bytes::from_request(req, state).await {
            Ok(body) => match read(&body) {
                Ok(value) => return Ok(Self(value)),
                Err(refusal) => refusal,
            },
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Refusal::Unreadable(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Err(_) => Refusal::Unreadable(StatusCode::BAD_REQUEST),
        };
        Err(refusal.in_language(state, &headers).await)
    }
}

impl<T: DeserializeOwned> FromRequestParts<Shared> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, PageError> {
        let refusal = match read(parts.uri.query().unwrap_or_default().as_bytes()) {
            Ok(value) => return Ok(Self(value)),
            Err(refusal) => refusal,
        };
        Err(refusal.in_language(state, &parts.headers).await)
    }
}

/// Why a form could not be read, before it is said in anyone's language.
enum Refusal {
    /// This field is missing or its value cannot be read (422, as the API refuses it).
    Field(String),
    /// The whole of it, with this status.
    Unreadable(StatusCode),
}

impl Refusal {
    /// The error page in the language of the agent whose session sent the request, or
    /// else the browser's. Looked up only here, on the way out: a form read well costs no
    /// session read of its own.
    async fn in_language(self, state: &Shared, headers: &HeaderMap) -> PageError {
        let t = match crate::auth::authenticate(state, headers).await {
            Ok(Some(caller)) => Tr::new(&caller.agent.language),
            _ => tr_from(headers),
        };
        let problem = match self {
            Refusal::Field(field) => {
                let detail = t.a("error-form-field", "field", &field);
                Problem::field(StatusCode::UNPROCESSABLE_ENTITY, field, detail)
            }
            Refusal::Unreadable(status) => Problem::new(status, t.s("error-form-unreadable")),
        };
        PageError(problem, t)
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads `input` as form fields; names the field that is missing or cannot be read.
fn read<T: DeserializeOwned>(input: &[u8]) -> Result<T, Refusal> {
    crate::api::urlencoded(input, "").map_err(|(field, _)| match field {
        field if field.is_empty() => Refusal::Unreadable(StatusCode::UNPROCESSABLE_ENTITY),
        field => Refusal::Field(field),
    })
}
