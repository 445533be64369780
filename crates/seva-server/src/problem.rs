//! Errors as RFC 9457 problem documents (`application/problem+json`). Every error the API
//! returns says what went wrong and, when one input was at fault, which field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    #[serde(rename = "status")]
    pub code: u16,
    pub detail: String,
    /// The input at fault, as a path into the request (`contact.email`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again, sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<std::num::NonZeroU32>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            code: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn field(status: StatusCode, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(status, detail)
        }
    }

    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::field(StatusCode::UNPROCESSABLE_ENTITY, field, detail)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "no such thing, or you may not see it",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "log in, or send an API token as 'Authorization: Bearer <token>'",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 429: too many calls; `wait_micros` until the next is allowed (sent in whole seconds).
    pub fn too_many(detail: impl Into<String>, wait_micros: i64) -> Self {
        Self {
            retry_after: std::num::NonZeroU32::new(
                u32::try_from((wait_micros.max(1) as u64).div_ceil(1_000_000)).unwrap_or(u32::MAX),
            ),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }

    /// The headers the problem asks for, on an answer that tells of it (a problem document
    /// or an error page): `Retry-After`.
    pub fn add_headers(&self, response: &mut Response) {
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.get().into());
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "something went wrong on our side; nothing was changed",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        self.add_headers(&mut response);
        response
    }
}

impl From<seva_store::Error> for Problem {
    fn from(e: seva_store::Error) -> Self {
        use seva_store::Error as E;
        match e {
            E::NotFound => Problem::not_found(),
            E::Invalid { field, message } => Problem::bad_request(field, message),
            E::Conflict(m) => Problem::new(StatusCode::CONFLICT, m),
            other => {
                tracing::error!(error = %other, "store error");
                Problem::internal()
            }
        }
    }
}
