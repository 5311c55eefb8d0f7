//! Lookups and matches, counted per UTC day, client (the key's name) and technology, kept in
//! memory and added to the store's daily aggregates (`usage_daily`) every minute, before
//! statistics are read, and when the service stops. A failed write keeps the counts for the
//! next one: nothing counted is lost while the process lives.
//!
//! A request counts what it looked up in a [`Tally`] and hands it over once
//! ([`Usage::add`]): a batch of 10,000 signals takes the lock once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use spoor_bank::retention::DAY_MS;
use spoor_bank::statistics::{lookup_technology, UsageAdd};
use spoor_core::SignalType;

/// The lookups of one request, per technology.
#[derive(Debug, Default)]
pub struct Tally(Vec<(String, u64, u64)>);

impl Tally {
    /// Counts one signal looked up: its type, the distance of its nearest match, and how many
    /// entries it matched.
    pub fn lookup(&mut self, signal: SignalType, nearest: Option<u32>, matches: usize) {
        let tech = lookup_technology(signal.name(), nearest);
        match self.0.iter_mut().find(|(t, _, _)| t == tech) {
            Some(e) => {
                e.1 += 1;
                e.2 += matches as u64;
            }
            None => self.0.push((tech.to_string(), 1, matches as u64)),
        }
    }

    /// Counts one signal looked up with the entries it matched.
    pub fn matched(&mut self, signal: SignalType, found: &[spoor_matcher::Match]) {
        self.lookup(signal, found.iter().map(|m| m.distance).min(), found.len());
    }
}

/// How often the service writes its counts.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

type Key = (i64, Arc<str>, String);

/// Counts not yet written to the store.
#[derive(Debug, Default)]
pub struct Usage {
    pending: Mutex<HashMap<Key, (u64, u64)>>,
}

impl Usage {
    /// Adds a request's tally for `client`, on today's UTC date (and to `/metrics`:
    /// `spoor_lookups_total{technology}`).
    pub fn add(&self, client: &Arc<str>, tally: Tally) {
        if tally.0.is_empty() {
            return;
        }
        let day = spoor_bank::model::now_ms().div_euclid(DAY_MS);
        for (tech, lookups, _) in &tally.0 {
            metrics::counter!("spoor_lookups_total", "technology" => tech.clone())
                .increment(*lookups);
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (tech, lookups, matches) in tally.0 {
            let e = p.entry((day, client.clone(), tech)).or_default();
            e.0 += lookups;
            e.1 += matches;
        }
    }

    /// Writes the pending counts to the store; on failure they stay pending (added to what
    /// comes meanwhile) and the error is returned.
    pub fn flush(&self, store: &dyn spoor_bank::Store) -> spoor_bank::Result<()> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return Ok(());
        }
        let rows: Vec<UsageAdd> = taken
            .iter()
            .map(|((day, client, tech), (lookups, matches))| UsageAdd {
                day: *day,
                client: client.to_string(),
                technology: tech.clone(),
                lookups: *lookups,
                matches: *matches,
            })
            .collect();
        let written = store.usage_add(&rows);
        if written.is_err() {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (k, (l, m)) in taken {
                let e = p.entry(k).or_default();
                e.0 += l;
                e.1 += m;
            }
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_each_technology_once_with_its_matches() {
        let mut t = Tally::default();
        t.lookup(SignalType::Pdq, None, 0);
        t.lookup(SignalType::Pdq, Some(4), 2);
        t.lookup(SignalType::Pdq, Some(9), 1);
        t.lookup(SignalType::Md5, Some(0), 1);
        let mut got = t.0.clone();
        got.sort();
        assert_eq!(
            got,
            [("md5".into(), 1, 1), ("pdq:1-10".into(), 2, 3), ("pdq:none".into(), 1, 0)]
        );
        let u = Usage::default();
        let client: Arc<str> = Arc::from("hoster");
        u.add(&client, t);
        let mut again = Tally::default();
        again.lookup(SignalType::Md5, None, 0);
        u.add(&client, again);
        let p = u.pending.lock().unwrap();
        let md5 = p.iter().find(|(k, _)| k.2 == "md5").unwrap().1;
        assert_eq!(*md5, (2, 1));
    }
}
