//! Identifiers. Every id is a UUIDv7, so ids sort by creation time and can be made on any
//! node without coordination; each kind of thing has its own type so that a contact id can
//! never be passed where a conversation id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id that sorts after every id made before it on this machine.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        $crate::string_schema!($name, Some(utoipa::openapi::schema::KnownFormat::Uuid), None, stringify!($name));

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    /// A customer.
    ContactId,
    /// One customer issue, across all its messages and channels.
    ConversationId,
    /// One entry of a conversation's timeline.
    MessageId,
    /// A user of Seva who answers customers (agent, supervisor or admin).
    AgentId,
    /// A department.
    TeamId,
    /// A way in: a form, a mailbox, a chat widget, a phone number.
    InboxId,
    /// A file attached to a message.
    AttachmentId,
    /// A company that contacts belong to.
    OrganizationId,
    /// An entry of the append-only event log.
    EventId,
    /// A unit of background work (an outbound send, a timer).
    JobId,
    /// An API token.
    TokenId,
    /// Business hours: a time zone, opening hours, holidays.
    CalendarId,
    /// Response and resolution targets for the conversations that match it.
    SlaPolicyId,
    /// A routing, priority or automation rule.
    RuleId,
    /// Something an agent is told about (a mention, an urgent arrival, a follow-up due).
    NotificationId,
    /// A conversation handed to another team while its owner stays accountable.
    TransferId,
    /// Work an agent must do on a conversation: a follow-up after a transfer.
    TaskId,
    /// An integrator's endpoint that receives events.
    WebhookId,
    /// One attempt to deliver an event to a webhook.
    DeliveryId,
    /// A canned reply with actions.
    MacroId,
    /// An agent's saved list filters.
    ViewId,
    /// A custom field a team defines.
    FieldId,
    /// A knowledge-base article in one language.
    ArticleId,
    /// A help-center category.
    CategoryId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_later_sort_later() {
        let first = ConversationId::new();
        let second = ConversationId::new();
        assert!(first < second);
        assert!(
            first.to_string() < second.to_string(),
            "text form sorts too"
        );
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = ContactId::new();
        assert_eq!(id.to_string().parse::<ContactId>().unwrap(), id);
        assert!("not-an-id".parse::<ContactId>().is_err());
    }
}
