//! What every channel turns an arriving message into, so that one ingestion path stores
//! them all (see the architecture page: "one path for every channel").

use serde::{Deserialize, Serialize};

use crate::contact::IdentityKind;
use crate::conversation::Channel;

/// A file that came with a message, before it is stored.
#[derive(Debug, Clone)]
pub struct InboundFile {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One message from a customer, channel-neutral.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    /// The inbox it arrived at, by name; `None` for the channel's default inbox.
    pub inbox: Option<String>,
    /// Who sent it, as the channel knows them.
    pub identity: (IdentityKind, String),
    pub name: Option<String>,
    pub subject: String,
    pub text: String,
    pub files: Vec<InboundFile>,
    /// The provider's id for this message, so that a redelivery is stored once.
    pub provider_id: Option<String>,
    /// The conversation it continues, when the channel knows it (a reply address, a chat
    /// session); `None` opens a new conversation.
    pub continues: Option<crate::ConversationId>,
}

/// Where a customer's message landed, as acknowledged to them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Received {
    pub conversation_id: crate::ConversationId,
    pub reference: i64,
    pub duplicate: bool,
}
