//! Limits per key, pure: the caller passes the time, so tests need no clock.
//!
//! - [`SlidingWindow`] counts attempts in a window (an IP address, an email address): login
//!   attempts and the public web form, where a small fixed budget is the whole requirement.
//! - [`Budget`] spends calls from a bucket that refills at a steady rate: API calls per
//!   agent, thousands a second, at one number per key.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct SlidingWindow<K> {
    limit: usize,
    window_micros: i64,
    hits: HashMap<K, VecDeque<i64>>,
}

impl<K: Hash + Eq + Clone> SlidingWindow<K> {
    pub fn new(limit: usize, window_seconds: i64) -> Self {
        Self {
            limit,
            window_micros: window_seconds * 1_000_000,
            hits: HashMap::new(),
        }
    }

    /// Whether `key` is already at its limit at `now` (without counting a new attempt):
    /// if it is, the µs until it is not, when its oldest attempt leaves the window.
    pub fn wait(&mut self, key: &K, now: i64) -> Option<i64> {
        self.prune(key, now);
        let hits = self.hits.get(key)?;
        let over = hits.len().checked_sub(self.limit)?;
        Some(
            hits.get(over)
                .map_or(self.window_micros, |t| t + self.window_micros - now),
        )
    }

    /// Counts one attempt; when over the limit, does not count it and says how many µs
    /// until an attempt would be counted.
    pub fn hit(&mut self, key: K, now: i64) -> Result<(), i64> {
        if let Some(wait) = self.wait(&key, now) {
            return Err(wait);
        }
        self.hits.entry(key).or_default().push_back(now);
        Ok(())
    }

    fn prune(&mut self, key: &K, now: i64) {
        let oldest_kept = now - self.window_micros;
        if let Some(h) = self.hits.get_mut(key) {
            while h.front().is_some_and(|&t| t <= oldest_kept) {
                h.pop_front();
            }
            if h.is_empty() {
                self.hits.remove(key);
            }
        }
        // Keep memory bounded under a flood of distinct keys.
        if self.hits.len() > 100_000 {
            self.hits
                .retain(|_, h| h.back().is_some_and(|&t| t > oldest_kept));
        }
    }
}

/// A bucket of `per_minute` calls per key that refills steadily (one call every
/// `60 / per_minute` seconds), kept as the one instant its bucket will be full again (the
/// "generic cell rate algorithm"): a full bucket lets a burst of `per_minute` calls through
/// at once, an empty one a call each interval.
#[derive(Debug)]
pub struct Budget<K> {
    interval_micros: i64,
    burst_micros: i64,
    full_at: HashMap<K, i64>,
}

impl<K: Hash + Eq> Budget<K> {
    /// `per_minute` of 0 is no limit; more than one call a µs counts as one a µs.
    pub fn new(per_minute: u64) -> Self {
        let per_minute = per_minute.min(60_000_000);
        let interval_micros = match per_minute {
            0 => 0,
            n => (60_000_000 / n as i64).max(1),
        };
        Self {
            interval_micros,
            burst_micros: interval_micros * (per_minute as i64 - 1).max(0),
            full_at: HashMap::new(),
        }
    }

    /// Spends one call of `key`'s at `now` (µs); when the bucket is empty, spends nothing
    /// and says how many µs until the next call is allowed.
    pub fn spend(&mut self, key: K, now: i64) -> Result<(), i64> {
        if self.interval_micros == 0 {
            return Ok(());
        }
        if self.full_at.len() >= 10_000 && !self.full_at.contains_key(&key) {
            // Keep memory bounded: a key whose bucket is full again needs no entry.
            self.full_at.retain(|_, at| *at > now);
        }
        let full_at = self.full_at.entry(key).or_insert(now);
        // Spending never puts the instant further ahead than a whole bucket and one call;
        // if it is, the clock went back, and the bucket starts full from here.
        let from = match *full_at {
            at if at > now + self.burst_micros + self.interval_micros => now,
            at => at.max(now),
        };
        let wait = from - now - self.burst_micros;
        if wait > 0 {
            return Err(wait);
        }
        *full_at = from + self.interval_micros;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lets_a_minutes_calls_through_at_once_then_refills_steadily() {
        let mut b = Budget::new(60);
        for _ in 0..60 {
            assert_eq!(b.spend("agent", 0), Ok(()));
        }
        assert_eq!(
            b.spend("agent", 0),
            Err(1_000_000),
            "empty: one call a second"
        );
        assert_eq!(b.spend("other", 0), Ok(()), "keys are independent");
        assert_eq!(b.spend("agent", 400_000), Err(600_000));
        assert_eq!(b.spend("agent", 1_000_000), Ok(()));
        assert!(b.spend("agent", 1_000_001).is_err());
        // Thirty seconds idle give back thirty calls, and no more.
        let later = 31_000_000;
        for _ in 0..30 {
            assert_eq!(b.spend("agent", later), Ok(()));
        }
        assert!(b.spend("agent", later).is_err());
        // A minute idle fills the bucket, and no fuller.
        let much_later = 1_000_000_000;
        for _ in 0..60 {
            assert_eq!(b.spend("agent", much_later), Ok(()));
        }
        assert!(b.spend("agent", much_later).is_err());
    }

    #[test]
    fn a_clock_set_back_does_not_lock_a_key_out() {
        let mut b = Budget::new(60);
        for _ in 0..61 {
            let _ = b.spend("agent", 3_600_000_000);
        }
        assert_eq!(b.spend("agent", 0), Ok(()), "an hour back: a full bucket");
        assert!(b.spend("agent", 30_000_000).is_ok());
    }

    #[test]
    fn a_budget_beyond_one_call_a_microsecond_is_one_a_microsecond() {
        // No overflow at today's clock, whatever the setting.
        let (mut b, today) = (Budget::new(u64::MAX), 1_800_000_000_000_000);
        for i in 0..100_000 {
            assert_eq!(b.spend("script", today + i / 2), Ok(()));
        }
    }

    #[test]
    fn a_budget_of_nothing_is_no_limit() {
        let mut b = Budget::new(0);
        for i in 0..100_000 {
            assert_eq!(b.spend(1, i), Ok(()));
        }
    }

    #[test]
    fn a_budget_forgets_keys_whose_bucket_is_full() {
        let mut b = Budget::new(600);
        for k in 0..10_000 {
            b.spend(k, 0).unwrap();
        }
        b.spend(10_000, 1_000_000).unwrap();
        assert_eq!(b.full_at.len(), 1, "every other bucket was full again");
    }

    #[test]
    fn the_eleventh_attempt_in_a_window_is_refused_and_the_window_slides() {
        let mut w = SlidingWindow::new(10, 60);
        for i in 0..10 {
            assert_eq!(w.hit("ip", i * 1_000_000), Ok(()));
        }
        assert_eq!(
            w.hit("ip", 10_000_000),
            Err(50_000_000),
            "refused until the first attempt leaves the window, at 60 s"
        );
        assert_eq!(w.wait(&"ip", 10_000_000), Some(50_000_000));
        assert_eq!(w.hit("other", 10_000_000), Ok(()), "keys are independent");
        assert_eq!(w.wait(&"other", 10_000_000), None);
        assert_eq!(
            w.hit("ip", 61_000_000),
            Ok(()),
            "the first attempt has left the window"
        );
        assert_eq!(w.hit("ip", 61_000_000), Ok(()), "so has the second");
        assert_eq!(
            w.wait(&"ip", 61_000_000),
            Some(1_000_000),
            "the third leaves at 62 s"
        );
    }
}
