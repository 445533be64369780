//! The live stream that keeps agents' pages current without reloading: committed events,
//! as server-sent events, each only to agents who may see its conversation. A client that
//! falls too far behind is told to resync (reload what it shows) rather than miss changes.
//! The same stream carries presence changes (who opened or is replying in a conversation),
//! as `presence` events naming the conversation. An open stream is also the agent's
//! presence: "online" is recorded when their first desk opens and renewed every 30 s, and
//! cleared when their last one on this node closes.

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
    let presence = state.presence.subscribe();
    let desk = Desk::open(&state, viewer.agent_id).await;
    let mut heartbeat = tokio::time::interval(seva_store::routing::HEARTBEAT);
    heartbeat.reset();
    let events = stream::unfold(
        (rx, presence, state, viewer, desk, heartbeat),
        |(mut rx, mut presence, state, viewer, desk, mut heartbeat)| async move {
            loop {
                let frame = tokio::select! {
                    _ = heartbeat.tick() => {
                        record_seen(&state, desk.agent, true).await;
                        continue;
                    }
                    change = rx.recv() => match change {
                        Ok(e) => {
                            if !visible(&state, &viewer, e.conversation_id).await {
                                continue;
                            }
                            let data = serde_json::json!({"seq": e.seq, "kind": e.kind, "conversation_id": e.conversation_id});
                            SseEvent::default().event("change").data(data.to_string())
                        }
                        Err(RecvError::Lagged(_)) => SseEvent::default().event("resync").data("{}"),
                        Err(RecvError::Closed) => return None,
                    },
                    who = presence.recv() => match who {
                        Ok(id) => {
                            if !visible(&state, &viewer, Some(id)).await {
                                continue;
                            }
                            let data = serde_json::json!({"conversation_id": id});
                            SseEvent::default().event("presence").data(data.to_string())
                        }
                        // Missed presence changes are caught up by the pages' own renewals.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                };
                return Some((
                    Ok::<_, Infallible>(frame),
                    (rx, presence, state, viewer, desk, heartbeat),
                ));
            }
        },
    );
    Ok(Sse::new(events)
        // A closed desk is noticed when a write to it fails: the keep-alive comment every
        // 5 s bounds how long a gone agent still shows online (two writes, 10 s).
        // A named event rather than a comment, so that pages can tell a silent connection
        // (a network that went away without closing it) and open a new one.
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(5))
                .event(SseEvent::default().event("ping").data("{}")),
        )
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

async fn record_seen(state: &Shared, agent: seva_core::AgentId, online: bool) {
    let desks = state.clone();
    if let Err(e) = state
        .store
        .write(op!(c => {
            // Decided when the writer gets to it, not when it was asked: a desk that opened
            // meanwhile (a page reload) keeps the agent online.
            let open = desks.desks.lock().is_ok_and(|d| d.contains_key(&agent));
            if online || !open {
                seva_store::routing::set_seen(c, agent, online).await?;
            }
            Ok(())
        }))
        .await
    {
        tracing::warn!(error = %e, "could not record an agent's presence");
    }
}

/// One open desk of an agent; the last one closed on this node marks them offline.
struct Desk {
    agent: seva_core::AgentId,
    state: Shared,
}

impl Desk {
    async fn open(state: &Shared, agent: seva_core::AgentId) -> Self {
        let first = state
            .desks
            .lock()
            .map(|mut d| {
                let n = d.entry(agent).or_insert(0);
                *n += 1;
                *n == 1
            })
            .unwrap_or(false);
        if first {
            record_seen(state, agent, true).await;
        }
        Desk {
            agent,
            state: state.clone(),
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let last = self
            .state
            .desks
            .lock()
            .map(|mut d| match d.get_mut(&self.agent) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    d.remove(&self.agent);
                    true
                }
            })
            .unwrap_or(false);
        if last && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (state, agent) = (self.state.clone(), self.agent);
            // A moment's grace: an agent going from one page to the next closes one desk
            // and opens another, and is not gone.
            handle.spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                record_seen(&state, agent, false).await
            });
        }
    }
}
