//! Requests and matches of the last 24 hours, in hourly buckets, counted by this process (not by
//! the deployment: each replica counts its own, and a restart starts from zero).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Hours kept.
pub const HOURS: usize = 24;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    /// Hours since the epoch this bucket counts.
    hour: u64,
    requests: u64,
    matches: u64,
}

/// One hour's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hour {
    /// Hours since the Unix epoch (UTC): the hour that began at `hour * 3600` seconds.
    pub hour: u64,
    /// Match requests answered.
    pub requests: u64,
    /// Matches reported in them.
    pub matches: u64,
}

/// The counters: a ring of 24 hourly buckets. Recording is a short lock, cheap next to a
/// request.
#[derive(Debug, Default)]
pub struct Activity {
    buckets: Mutex<[Bucket; HOURS]>,
}

fn hour_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 3600)
}

impl Activity {
    /// Empty counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one match request that reported `matches` matches, now.
    pub fn record(&self, matches: u64) {
        self.record_at(hour_now(), matches);
    }

    /// Counts one match request in the given hour (hours since the epoch).
    pub fn record_at(&self, hour: u64, matches: u64) {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut b[(hour % HOURS as u64) as usize];
        if slot.hour != hour {
            if slot.hour > hour {
                // An hour older than the ring (the clock stepped back): not kept.
                return;
            }
            *slot = Bucket { hour, requests: 0, matches: 0 };
        }
        slot.requests = slot.requests.saturating_add(1);
        slot.matches = slot.matches.saturating_add(matches);
    }

    /// The last 24 hours ending with the current one, oldest first.
    pub fn last_day(&self) -> [Hour; HOURS] {
        self.last_day_at(hour_now())
    }

    /// The 24 hours ending with `now_hour`, oldest first; hours with nothing recorded are zero.
    pub fn last_day_at(&self, now_hour: u64) -> [Hour; HOURS] {
        let b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = [Hour::default(); HOURS];
        for (i, h) in out.iter_mut().enumerate() {
            let hour = (now_hour + 1 + i as u64).saturating_sub(HOURS as u64);
            let slot = b[(hour % HOURS as u64) as usize];
            *h = if slot.hour == hour && (slot.requests > 0 || slot.matches > 0) {
                Hour { hour, requests: slot.requests, matches: slot.matches }
            } else {
                Hour { hour, requests: 0, matches: 0 }
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_roll_over_and_keep_a_day() {
        let a = Activity::new();
        let h = 500_000;
        a.record_at(h, 2);
        a.record_at(h, 0);
        a.record_at(h + 3, 5);
        let day = a.last_day_at(h + 3);
        assert_eq!(day[HOURS - 1], Hour { hour: h + 3, requests: 1, matches: 5 });
        assert_eq!(day[HOURS - 4], Hour { hour: h, requests: 2, matches: 2 });
        assert_eq!(day.iter().map(|x| x.requests).sum::<u64>(), 3);
        // 24 hours later the first hour's slot is reused and its old figures are gone.
        a.record_at(h + 24, 1);
        let day = a.last_day_at(h + 24);
        assert_eq!(day[HOURS - 1], Hour { hour: h + 24, requests: 1, matches: 1 });
        assert_eq!(day.iter().map(|x| x.requests).sum::<u64>(), 2, "{day:?}");
        // Much later nothing is left.
        assert!(a.last_day_at(h + 100).iter().all(|x| x.requests == 0));
        // An hour older than the ring is dropped.
        a.record_at(h, 9);
        assert_eq!(a.last_day_at(h + 24)[HOURS - 1].matches, 1);
    }
}
