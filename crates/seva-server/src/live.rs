//! The live stream that keeps agents' pages current without reloading: committed events,
//! as server-sent events, each only to agents who may see its conversation. A client that
//! falls too far behind is told to resync (reload what it shows) rather than miss changes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use seva_store::conversations::Viewer;
use seva_store::op;
use tokio::sync::broadcast::error::RecvError;

use crate::Shared;
use crate::problem::Problem;

pub async fn stream(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, Problem> {
    let caller = crate::auth::authenticate(&state, &headers)
        .await?
        .ok_or_else(Problem::unauthorized)?;
    let viewer = caller.viewer();
    let rx = state.store.subscribe();
    let events = stream::unfold((rx, state, viewer), |(mut rx, state, viewer)| async move {
        loop {
            let frame = match rx.recv().await {
                Ok(e) => {
                    if !visible(&state, &viewer, e.conversation_id).await {
                        continue;
                    }
                    let data = serde_json::json!({"seq": e.seq, "kind": e.kind, "conversation_id": e.conversation_id});
                    SseEvent::default().event("change").data(data.to_string())
                }
                Err(RecvError::Lagged(_)) => SseEvent::default().event("resync").data("{}"),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok::<_, Infallible>(frame), (rx, state, viewer)));
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

async fn visible(
    state: &Shared,
    viewer: &Viewer,
    conversation: Option<seva_core::ConversationId>,
) -> bool {
    match conversation {
        None => viewer.role.sees_every_team(),
        Some(_) if viewer.role.sees_every_team() => true,
        Some(id) => {
            let v = viewer.clone();
            state
                .store
                .read(op!(c => seva_store::conversations::get_for(c, &v, id).await))
                .await
                .is_ok()
        }
    }
}
