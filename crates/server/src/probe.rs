//! Probe detection: keeping the lists secret from the keys that match against them.
//!
//! A matcher key never reads a list, but answers leak: with yes/no answers alone, a client that
//! holds one hash within a bank's radius of a banked hash can walk it out to the radius boundary
//! and then flip one bit at a time, learning a bit of the banked hash per query (about 300
//! queries for the whole hash). Every query of that walk lies within a few bits of an earlier
//! one. Ordinary traffic does not: distinct images are about 128 bits apart, and a re-upload of
//! the same image is an exact repeat.
//!
//! So, per key, the detector keeps the key's last [`ProbeConfig::history`] PDQ queries made
//! within [`ProbeConfig::pair_window`]. A query is *close* when it lies 1 to
//! [`ProbeConfig::close_bits`] bits from one of them. Exact repeats (distance 0) are not close:
//! they carry no new information (the answer is the one already given) and they are what
//! re-uploads and retries look like. When a key makes more than [`ProbeConfig::threshold`] close
//! queries within [`ProbeConfig::count_window`], it is stopped: every further request answers
//! 429 until the service restarts (or the key is revoked and replaced), the counter
//! `spoor_probe_alerts_total` rises and a warning names the key. The whole request that trips
//! the detector is refused, so a batch gets no answers for any of its signals.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use spoor_core::Hash256;

use crate::auth::Principal;
use crate::error::ApiError;

/// Thresholds of the detector.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Close queries a key may make within `count_window` (0: detection off).
    pub threshold: u32,
    /// Largest distance (bits) at which a query counts as close to an earlier one.
    pub close_bits: u32,
    /// Earlier queries compared with each new one (the most recent ones).
    pub history: usize,
    /// Only earlier queries this recent are compared.
    pub pair_window: Duration,
    /// Close queries are counted over this long.
    pub count_window: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            threshold: 32,
            close_bits: 8,
            history: 1000,
            pair_window: Duration::from_secs(600),
            count_window: Duration::from_secs(3600),
        }
    }
}

#[derive(Default)]
struct KeyHistory {
    /// The key's recent queries, oldest first.
    recent: VecDeque<(Instant, Hash256)>,
    /// When its close queries were made, oldest first.
    close: VecDeque<Instant>,
    /// Set once the key was stopped.
    stopped: bool,
}

/// Per-key query histories.
pub struct Probes {
    config: ProbeConfig,
    keys: Mutex<HashMap<Arc<str>, Arc<Mutex<KeyHistory>>>>,
}

fn stopped_error(name: &str) -> ApiError {
    ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "probing_stopped",
        message: format!(
            "key {name:?} was stopped: its queries walk in small steps around earlier ones, as \
             a client rebuilding a banked hash would; an admin must look at it (the server log \
             names the key) and issue a new key"
        ),
    }
}

impl Probes {
    /// A detector with these thresholds.
    pub fn new(config: ProbeConfig) -> Self {
        Probes { config, keys: Mutex::new(HashMap::new()) }
    }

    fn history(&self, key_id: &Arc<str>) -> Arc<Mutex<KeyHistory>> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry(key_id.clone()).or_default().clone()
    }

    /// Fails with 429 when the key was stopped for probing.
    pub fn check(&self, p: &Principal) -> Result<(), ApiError> {
        let stopped = {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.get(&p.key_id).is_some_and(|h| h.lock().unwrap_or_else(|e| e.into_inner()).stopped)
        };
        if stopped {
            Err(stopped_error(&p.name))
        } else {
            Ok(())
        }
    }

    /// Records the PDQ queries of one request of `p`, in order; fails with 429 (and raises the
    /// alert, once) when they take the key past the threshold. Only matcher keys are watched:
    /// admin and curator keys may read the lists anyway, hasher keys cannot match.
    pub fn observe(&self, p: &Principal, queries: &[Hash256]) -> Result<(), ApiError> {
        if self.config.threshold == 0 || p.role != spoor_bank::Role::Matcher || queries.is_empty() {
            return Ok(());
        }
        let history = self.history(&p.key_id);
        let mut h = history.lock().unwrap_or_else(|e| e.into_inner());
        if h.stopped {
            return Err(stopped_error(&p.name));
        }
        let c = &self.config;
        let now = Instant::now();
        while h.recent.front().is_some_and(|(t, _)| now.duration_since(*t) > c.pair_window) {
            h.recent.pop_front();
        }
        while h.close.front().is_some_and(|t| now.duration_since(*t) > c.count_window) {
            h.close.pop_front();
        }
        for q in queries {
            let close = h.recent.iter().any(|(_, e)| {
                let d = e.distance(q);
                d > 0 && d <= c.close_bits
            });
            if close {
                h.close.push_back(now);
            }
            if h.recent.len() >= c.history {
                h.recent.pop_front();
            }
            h.recent.push_back((now, *q));
            if h.close.len() > c.threshold as usize {
                h.stopped = true;
                metrics::counter!("spoor_probe_alerts_total").increment(1);
                tracing::warn!(
                    key = %p.name,
                    key_id = %p.key_id,
                    close_queries = h.close.len(),
                    close_bits = c.close_bits,
                    window_s = c.count_window.as_secs(),
                    "key stopped for probing: its PDQ queries walk in small steps around earlier ones, as a client rebuilding a banked hash would; look at what the key's owner is doing, then revoke it and issue a new one"
                );
                return Err(stopped_error(&p.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> Principal {
        Principal {
            name: "m".into(),
            actor: "key:m".into(),
            key_id: "abc".into(),
            role: spoor_bank::Role::Matcher,
            banks: None,
            show_distance: false,
        }
    }

    fn flip(h: &Hash256, bit: usize) -> Hash256 {
        let mut b = h.to_bytes();
        b[bit / 8] ^= 1 << (bit % 8);
        Hash256::from_bytes(b)
    }

    #[test]
    fn small_steps_are_stopped_repeats_and_far_queries_are_not() {
        let probes = Probes::new(ProbeConfig { threshold: 4, ..Default::default() });
        let p = matcher();
        let base = Hash256::from_bytes([0x5a; 32]);
        // Exact repeats never count.
        for _ in 0..100 {
            probes.observe(&p, &[base]).unwrap();
        }
        // Far queries (128 bits away) never count.
        let far = Hash256::from_bytes([0xa5 ^ 0x0f; 32]);
        assert!(base.distance(&far) > 8);
        probes.observe(&p, &[far]).unwrap();
        // Four close queries are allowed, the fifth stops the key, for good.
        for bit in 0..4 {
            probes.observe(&p, &[flip(&base, bit)]).unwrap();
        }
        let e = probes.observe(&p, &[flip(&base, 4)]).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(probes.check(&p).unwrap_err().code, "probing_stopped");
        assert!(probes.observe(&p, &[far]).is_err());
        // Other keys and other roles are not affected.
        let other = Principal { key_id: "def".into(), ..matcher() };
        probes.check(&other).unwrap();
        let curator = Principal { role: spoor_bank::Role::Curator, ..other };
        for bit in 0..50 {
            probes.observe(&curator, &[flip(&base, bit)]).unwrap();
        }
    }

    #[test]
    fn only_queries_within_the_pair_window_and_history_are_compared() {
        let probes = Probes::new(ProbeConfig { threshold: 1, history: 2, ..Default::default() });
        let p = matcher();
        let base = Hash256::from_bytes([0x11; 32]);
        probes.observe(&p, &[base]).unwrap();
        // Two far queries push `base` out of a history of 2: a step from it is not close.
        probes
            .observe(&p, &[Hash256::from_bytes([0xee; 32]), Hash256::from_bytes([0x33; 32])])
            .unwrap();
        probes.observe(&p, &[flip(&base, 0)]).unwrap();
        probes.observe(&p, &[flip(&base, 1)]).unwrap(); // close to the previous one: 1 of 1
        assert!(probes.observe(&p, &[flip(&base, 2)]).is_err()); // 2 of 1
    }
}
