//! Instants in UTC, stored as microseconds since the Unix epoch: one integer column that
//! sorts and compares the same way in SQLite and PostgreSQL.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A frozen "now" (microseconds), or `i64::MIN` for the system clock. Only a server
/// started with the test clock freezes it, so tests can step through timers (SLA
/// warnings, reopen windows) exactly.
static FROZEN: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);

impl Timestamp {
    pub fn now() -> Self {
        match FROZEN.load(std::sync::atomic::Ordering::Relaxed) {
            i64::MIN => Self::from_datetime(OffsetDateTime::now_utc()),
            frozen => Self(frozen),
        }
    }

    /// Freezes this process's clock at `to` (tests only: the server allows it only when
    /// started with `test_clock = true`).
    pub fn set_test_now(to: Timestamp) {
        FROZEN.store(to.0, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn from_datetime(t: OffsetDateTime) -> Self {
        Self((t.unix_timestamp_nanos() / 1_000) as i64)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC, the form the API speaks.
    pub fn rfc3339(self) -> String {
        self.to_datetime()
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.0.to_string())
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Self::from_datetime)
    }
}

crate::string_schema!(
    Timestamp,
    Some(utoipa::openapi::schema::KnownFormat::DateTime),
    None,
    "An instant in UTC, RFC 3339"
);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 date-time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_microseconds() {
        let t = Timestamp(1_764_000_000_123_456);
        assert_eq!(t.rfc3339(), "2025-11-24T16:00:00.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
