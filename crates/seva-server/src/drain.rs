//! Reads what a handler left of a request's body before the answer goes out.
//!
//! A handler may answer without reading the body: a path that names nothing, a session
//! that has ended, a form sent to a page that takes none. hyper then closes the connection
//! with the rest of the body unread, and the kernel answers the client's next bytes with
//! a reset. A client still sending (a browser uploading a 4 MB file when its session has
//! expired) never reads the answer: it reports a broken connection instead of the redirect
//! to the login page or the problem document. So the rest of the body is read and thrown
//! away first, as much as the body limit allows and for at most [`WITHIN`]; a body
//! declared larger than the limit is refused before anything reads it, and left unread,
//! and so is one the client has not sent yet because it waits for `100 Continue`.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::Shared;

/// How long a client may take to send what its handler did not read.
pub const WITHIN: Duration = Duration::from_secs(10);

/// The request's body, held here too, so that what the handler leaves can be read after it.
struct Held(Arc<Mutex<Option<Body>>>);

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut body = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match body.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let body = self.0.lock().unwrap_or_else(|e| e.into_inner());
        body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let body = self.0.lock().unwrap_or_else(|e| e.into_inner());
        body.as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

pub async fn unread_body(State(state): State<Shared>, req: Request, next: Next) -> Response {
    // A client that asks whether to send its body (`Expect: 100-continue`) sends nothing
    // until a handler reads it: one that does not, answers it before it sends anything.
    let asks = req
        .headers()
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if asks || req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let held = Arc::new(Mutex::new(Some(body)));
    let res = next
        .run(Request::from_parts(parts, Body::new(Held(held.clone()))))
        .await;
    let left = held.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut body) = left.filter(|b| !b.is_end_stream()) {
        let limit = state.config.max_body_bytes;
        let declared = body.size_hint().exact();
        if declared.is_none_or(|n| n <= limit as u64) {
            let _ = tokio::time::timeout(WITHIN, async {
                let mut read = 0;
                while let Some(Ok(frame)) = body.frame().await {
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > limit {
                        break;
                    }
                }
            })
            .await;
        }
    }
    res
}
