//! What a channel tells the customer once their message is stored. Channels describe
//! an arriving message as `seva_store::conversations::Arrival`, the one ingestion path.

use serde::{Deserialize, Serialize};

/// Where a customer's message landed, as acknowledged to them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Received {
    pub conversation_id: crate::ConversationId,
    pub reference: i64,
    pub duplicate: bool,
    /// Whether this message opened a new conversation.
    #[serde(skip)]
    pub created: bool,
    /// Whether it came from a blocked contact (filed as spam: no acknowledgement).
    #[serde(skip)]
    pub blocked: bool,
}
