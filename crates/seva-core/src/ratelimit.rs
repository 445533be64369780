//! A sliding-window limit on attempts per key (an IP address, an email address). Pure: the
//! caller passes the time, so tests need no clock. Used for login attempts and the public
//! web form, where a small fixed budget per window is the whole requirement.

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

    /// Whether `key` is already at its limit at `now` (without counting a new attempt).
    pub fn is_limited(&mut self, key: &K, now: i64) -> bool {
        self.prune(key, now);
        self.hits.get(key).is_some_and(|h| h.len() >= self.limit)
    }

    /// Counts one attempt; returns false (and does not count it) when over the limit.
    pub fn hit(&mut self, key: K, now: i64) -> bool {
        if self.is_limited(&key, now) {
            return false;
        }
        self.hits.entry(key).or_default().push_back(now);
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_attempt_in_a_window_is_refused_and_the_window_slides() {
        let mut w = SlidingWindow::new(10, 60);
        for i in 0..10 {
            assert!(w.hit("ip", i * 1_000_000));
        }
        assert!(!w.hit("ip", 10_000_000));
        assert!(w.hit("other", 10_000_000), "keys are independent");
        assert!(
            w.hit("ip", 61_000_000),
            "the first attempt has left the window"
        );
    }
}
