//! Seva's domain: the words a support team uses (contacts, conversations, messages,
//! agents, teams) and the rules over them, as plain data and pure functions. Nothing here
//! touches a database, a clock or the network, so every rule can be tested on its own.

pub mod agent;
pub mod bot;
pub mod contact;
pub mod conversation;
pub mod hours;
pub mod ids;
pub mod inbound;
pub mod ratelimit;
pub mod rules;
#[cfg(feature = "openapi")]
pub mod shapes;
pub mod text;
pub mod time;

pub use ids::*;

/// OpenAPI descriptions of the core's value types, for the generated API description.
#[cfg(feature = "openapi")]
pub mod openapi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

    pub fn string(
        format: Option<KnownFormat>,
        words: Option<&[&str]>,
        description: &str,
    ) -> RefOr<Schema> {
        let mut b = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(format.map(SchemaFormat::KnownFormat))
            .description(Some(description));
        if let Some(words) = words {
            b = b.enum_values(Some(words.iter().copied()));
        }
        RefOr::T(Schema::Object(b.build()))
    }
}

/// Implements the OpenAPI schema traits for a type that travels as a string.
#[macro_export]
#[doc(hidden)]
macro_rules! string_schema {
    ($t:ty, $format:expr, $words:expr, $desc:expr) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::string($format, $words, $desc)
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $t {}
    };
}
