//! What a text field must look like, named once in the OpenAPI document (`LanguageTag`,
//! `EmailAddress`, …) so that a client, or a fuzzer, knows before it calls what the
//! handlers will accept. Each pattern says no more than the check it stands for; where the
//! check is looser (it trims spaces, or takes a number written with dashes) the pattern
//! describes the plain form. A tag and a slug have words and no pattern: they take letters
//! of any script, and validators read Unicode's classes (`\p{L}`) too differently.
//!
//! These types are the schema only: the handlers still read the field as a `String` and
//! check it, with `#[schema(value_type = LanguageTag)]` on the field.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A pattern for text that is not only spaces, as Rust's `trim` sees spaces (its
/// `White_Space`, which is not quite ECMAScript's `\s`: U+0085 is a space, U+FEFF is not).
pub const NOT_ONLY_SPACES: &str =
    "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// `seva_core::text::is_language_tag` as a pattern.
const LANGUAGE_TAG: &str = "^[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*$";

macro_rules! shape {
    ($(#[$doc:meta])* $name:ident, $description:literal, $pattern:expr, $max:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .pattern($pattern)
                    .max_length($max)
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

shape!(
    /// `seva_core::text::is_language_tag`.
    LanguageTag,
    "A language tag: `en`, `te`, `el`, `tl`, `el-GR`.",
    Some(LANGUAGE_TAG),
    Some(35)
);

shape!(
    /// `seva_core::contact::Email::parse`. Domains are described in their ASCII form
    /// (an internationalised one is accepted too).
    EmailAddress,
    "An email address: 1 to 64 characters, `@`, a domain of two labels or more.",
    Some("^[^@\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000<>\",;\\x00-\\x1f\\x7f-\\x9f]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"),
    Some(254)
);

shape!(
    /// `seva_core::contact::PhoneE164::parse`.
    PhoneNumber,
    "A phone number with its country code: `+`, then 8 to 15 digits, the first not 0 \
     (spaces, dashes, dots and brackets between them are dropped; a leading `00` counts as `+`).",
    Some("^\\+[1-9][0-9]{7,14}$"),
    Some(16)
);

shape!(
    /// `seva_core::conversation::normalise_tag`.
    Tag,
    "A tag: 1 to 64 letters of any script, their marks, digits, `-` and `_`; spaces \
     around it are dropped, and it is stored in lower case. (No pattern says it: Unicode's \
     classes are read differently by different validators.)",
    None::<&str>,
    Some(64)
);

shape!(
    /// `seva_core::text::is_slug`.
    Slug,
    "The last part of an address: lower-case letters of any script, their marks and \
     digits, in words joined by single dashes (at most 100 graphemes). (No pattern says \
     it: Unicode's classes are read differently by different validators.)",
    None::<&str>,
    Some(100)
);

shape!(
    /// `seva_core::contact::clean_name` and the checks that refuse what it empties.
    Name,
    "A name: something besides spaces and control characters.",
    Some("[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]"),
    None
);

shape!(
    /// The checks of an article's tags and of other free labels: trimmed, not empty.
    Label,
    "A label: 1 to 50 characters, not only spaces.",
    Some(NOT_ONLY_SPACES),
    Some(50)
);

/// A name in each of several languages, `{"en": "Billing", "te": "బిల్లింగ్"}`: language tags
/// to names of 1 to 100 characters, at least one.
pub struct Names;

impl utoipa::PartialSchema for Names {
    fn schema() -> RefOr<Schema> {
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NOT_ONLY_SPACES))
            .max_length(Some(100));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A name by language: `{\"en\": \"Billing\", \"te\": \"బిల్లింగ్\"}`.",
            ))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(LANGUAGE_TAG))
                    .max_length(Some(35)),
            ))
            .additional_properties(Some(name))
            .min_properties(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for Names {}

shape!(
    /// What `seva_store::organizations` takes for a domain (an address's part after `@`).
    Domain,
    "An email domain, such as `example.com`; empty for none.",
    Some("^(([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)?$"),
    Some(252)
);

/// `seva_core::hours::CalendarSpec` as the API takes it. What the schema cannot say is
/// checked when the calendar is made: the time zone must be known, an opening must come
/// before its closing, openings must not overlap, and the week must have some.
pub struct CalendarShape;

impl utoipa::PartialSchema for CalendarShape {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, KnownFormat, SchemaFormat,
        };
        let hhmm = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))
        };
        let opening = ArrayBuilder::new()
            .prefix_items([hhmm(), hhmm()])
            .min_items(Some(2))
            .max_items(Some(2));
        let weekday = ObjectBuilder::new().schema_type(Type::String).pattern(Some(
            "^(monday|tuesday|wednesday|thursday|friday|saturday|sunday)$",
        ));
        ObjectBuilder::new()
            .description(Some(
                "`{\"time_zone\": \"Europe/Athens\", \"week\": {\"monday\": [[\"09:00\", \"18:00\"]]}, \
                 \"holidays\": [\"2026-12-25\"]}`",
            ))
            .property(
                "time_zone",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("A time zone of the IANA database, such as `Asia/Kolkata`.")),
            )
            .required("time_zone")
            .property(
                "week",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property_names(Some(weekday))
                    .additional_properties(Some(ArrayBuilder::new().items(opening))),
            )
            .property(
                "holidays",
                ArrayBuilder::new().items(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
                ),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl utoipa::ToSchema for CalendarShape {}

shape!(
    /// What `seva_store::routing::set_agent` takes for a language an agent speaks.
    SpokenLanguage,
    "A language an agent speaks: a short tag of letters and dashes, such as `te` or `pt-br`.",
    Some("^[A-Za-z-]{1,8}$"),
    Some(8)
);

/// Limits per channel, `{"chat": 3, "email": 20}`: channel names to whole numbers of 1 or more.
pub struct Capacities;

impl utoipa::PartialSchema for Capacities {
    fn schema() -> RefOr<Schema> {
        let channels = crate::conversation::Channel::ALL.iter().map(|c| c.as_str());
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Limits per channel: `{\"chat\": 3, \"email\": 20}`."))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(channels)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            ))
            .into()
    }
}

impl utoipa::ToSchema for Capacities {}

shape!(
    /// What `seva_store::webhooks::create` takes for an event kind.
    EventKind,
    "An event kind such as `conversation.created`, or `*` for all.",
    Some("^(\\*|[a-z_.]*\\.[a-z_.]*)$"),
    Some(64)
);

/// A contact's attributes as the API takes them: names of 1 to 64 characters to any
/// value (`null` removes one); at most 64 KiB in all, as JSON.
pub struct Attributes;

impl utoipa::PartialSchema for Attributes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Attributes by name (1 to 64 characters), such as `{\"tier\": \"vip\"}`; \
                 `null` removes one; at most 64 KiB in all.",
            ))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(64)),
            ))
            .into()
    }
}

impl utoipa::ToSchema for Attributes {}
