//! A page's form and query string. One that cannot be read is answered with the error page,
//! in the language the browser asks for, naming the field at fault (axum's own `Form` and
//! `Query` answer in English plain text). Pages use these in place of axum's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::PageError;
use super::session::tr_from;
use crate::i18n::Tr;
use crate::problem::Problem;

/// A form posted as browsers post one (`application/x-www-form-urlencoded`), or the query
/// string of a `GET`.
pub struct Form<T>(pub T);

/// The query string.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let t = tr_from(req.headers());
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            return read(req.uri().query().unwrap_or_default().as_bytes(), t).map(Self);
        }
        if !is_form(req.headers()) {
            return Err(PageError(
                Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    t.s("error-form-unreadable"),
                ),
                t,
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            let status = match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            PageError(Problem::new(status, t.s("error-form-unreadable")), t)
        })?;
        read(&body, t).map(Self)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        let query = parts.uri.query().unwrap_or_default();
        read(query.as_bytes(), tr_from(&parts.headers)).map(Self)
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

/// Reads `input` as form fields; a field that is missing or cannot be read is refused (422,
/// as the API refuses it), by its name.
fn read<T: DeserializeOwned>(input: &[u8], t: Tr) -> Result<T, PageError> {
    let fields = serde_urlencoded::Deserializer::new(form_urlencoded::parse(input));
    serde_path_to_error::deserialize(fields).map_err(|e| {
        let field = crate::api::field_at(e.path(), &e.inner().to_string(), "");
        let detail = if field.is_empty() {
            t.s("error-form-unreadable")
        } else {
            t.a("error-form-field", "field", &field)
        };
        PageError(
            Problem::field(StatusCode::UNPROCESSABLE_ENTITY, field, detail),
            t,
        )
    })
}
