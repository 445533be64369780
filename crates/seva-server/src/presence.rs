//! Who is looking at a conversation right now, and who is writing in it: the collision
//! notice on the conversation page ("Bill is replying…"). Presence lives in this node's
//! memory only: it is seconds old by nature, never worth a disk write. Pages announce
//! themselves every few seconds; an entry not renewed for [`STALE`] is gone. A change
//! is broadcast so that the other pages on the conversation refresh their notice at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use seva_core::{AgentId, ConversationId};
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// How long an announcement holds without being renewed (pages renew every 10 s).
pub const STALE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Viewing,
    Replying,
    /// Gone: the page was closed.
    Left,
    /// The customer is typing (live chat).
    Typing,
}

/// How long a customer's keystroke counts as typing.
pub const TYPING_FOR: Duration = Duration::from_secs(6);

/// Someone on a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Present {
    /// None for the customer.
    pub agent_id: Option<AgentId>,
    pub name: String,
    pub state: State,
}

struct Entry {
    present: Present,
    seen: Instant,
}

pub struct Presence {
    by_conversation: Mutex<HashMap<ConversationId, Vec<Entry>>>,
    /// Customers typing in a chat: their name, and their last keystroke.
    customers: Mutex<HashMap<ConversationId, (String, Instant)>>,
    changes: broadcast::Sender<ConversationId>,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            by_conversation: Mutex::new(HashMap::new()),
            customers: Mutex::new(HashMap::new()),
            changes: broadcast::channel(1024).0,
        }
    }
}

impl Presence {
    /// Records what `agent` is doing on `conversation` and returns everyone else there.
    pub fn announce(
        &self,
        conversation: ConversationId,
        agent: AgentId,
        name: &str,
        state: State,
    ) -> Vec<Present> {
        let now = Instant::now();
        let changed = {
            let Ok(mut all) = self.by_conversation.lock() else {
                return Vec::new();
            };
            let entries = all.entry(conversation).or_default();
            let before = entries
                .iter()
                .find(|e| e.present.agent_id == Some(agent))
                .map(|e| e.present.state);
            entries.retain(|e| {
                e.present.agent_id != Some(agent) && now.duration_since(e.seen) < STALE
            });
            if state != State::Left {
                entries.push(Entry {
                    present: Present {
                        agent_id: Some(agent),
                        name: name.to_string(),
                        state,
                    },
                    seen: now,
                });
            }
            if entries.is_empty() {
                all.remove(&conversation);
            }
            // Forget conversations everyone has silently left, now and then.
            if all.len() > 10_000 {
                all.retain(|_, v| v.iter().any(|e| now.duration_since(e.seen) < STALE));
            }
            before != Some(state) && !(before.is_none() && state == State::Left)
        };
        if changed {
            let _ = self.changes.send(conversation);
        }
        self.others(conversation, agent)
    }

    /// Everyone on `conversation` but `me`, and the customer while they type.
    pub fn others(&self, conversation: ConversationId, me: AgentId) -> Vec<Present> {
        let now = Instant::now();
        let Ok(all) = self.by_conversation.lock() else {
            return Vec::new();
        };
        let mut others: Vec<Present> = all
            .get(&conversation)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| {
                        e.present.agent_id != Some(me) && now.duration_since(e.seen) < STALE
                    })
                    .map(|e| e.present.clone())
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(customers) = self.customers.lock()
            && let Some((name, at)) = customers.get(&conversation)
            && now.duration_since(*at) < TYPING_FOR
        {
            others.push(Present {
                agent_id: None,
                name: name.clone(),
                state: State::Typing,
            });
        }
        others
    }

    /// The customer typed in a chat; the agents on it are told when they start.
    pub fn customer_typing(&self, conversation: ConversationId, name: &str) {
        let now = Instant::now();
        let started = self.customers.lock().is_ok_and(|mut c| {
            let before = c.insert(conversation, (name.to_string(), now));
            if c.len() > 10_000 {
                c.retain(|_, (_, at)| now.duration_since(*at) < TYPING_FOR);
            }
            before.is_none_or(|(_, at)| now.duration_since(at) >= TYPING_FOR)
        });
        if started {
            let _ = self.changes.send(conversation);
        }
    }

    /// Whether an agent has the conversation open now.
    pub fn agents_on(&self, conversation: ConversationId) -> bool {
        let now = Instant::now();
        self.by_conversation.lock().is_ok_and(|all| {
            all.get(&conversation)
                .is_some_and(|entries| entries.iter().any(|e| now.duration_since(e.seen) < STALE))
        })
    }

    /// The name of an agent writing a reply in `conversation`, if one is.
    pub fn agent_replying(&self, conversation: ConversationId) -> Option<String> {
        let now = Instant::now();
        let all = self.by_conversation.lock().ok()?;
        all.get(&conversation)?
            .iter()
            .find(|e| e.present.state == State::Replying && now.duration_since(e.seen) < STALE)
            .map(|e| e.present.name.clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ConversationId> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_agent_sees_the_others_and_a_page_that_leaves_is_gone() {
        let p = Presence::default();
        let c = ConversationId::new();
        let (ana, bill) = (AgentId::new(), AgentId::new());
        let mut changes = p.subscribe();
        assert!(p.announce(c, ana, "Ana", State::Viewing).is_empty());
        let seen = p.announce(c, bill, "Bill", State::Replying);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].name, "Ana");
        let ana_sees = p.others(c, ana);
        assert_eq!(
            (ana_sees[0].name.as_str(), ana_sees[0].state),
            ("Bill", State::Replying)
        );
        // Renewing the same state is no change; leaving is.
        p.announce(c, ana, "Ana", State::Viewing);
        p.announce(c, bill, "Bill", State::Left);
        assert!(p.others(c, ana).is_empty());
        let mut n = 0;
        while changes.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 3, "ana arrives, bill arrives, bill leaves");
    }
}
