//! A durable outbox: messages for other systems (the case webhook now; reports later), stored
//! before anyone tries to deliver them, and delivered by a worker that retries until the
//! receiver takes them or the worker gives up.
//!
//! Invariants every store keeps:
//! * an item is stored once per `dedupe_key`: enqueueing again is a no-op that says so;
//! * [`Outbox::outbox_due`] only reads (it claims nothing), oldest due first;
//! * an item is marked delivered or given up at most once, conditionally (`delivered_at IS NULL
//!   AND gave_up_at IS NULL`), so of two workers marking the same item one is told `false`;
//!   an item so marked is never due again;
//! * bad input is refused before anything is written.

use serde::Serialize;

use crate::model::{check_text, Millis};
use crate::{BankError, Result};

/// Longest topic, in bytes.
pub const MAX_TOPIC: usize = 64;
/// Longest dedupe key, in bytes.
pub const MAX_DEDUPE_KEY: usize = 256;
/// Longest target (a URL, say), in bytes.
pub const MAX_TARGET: usize = 2048;
/// Largest payload, in bytes.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Longest error kept with an item, in bytes (longer ones are cut).
pub const MAX_ERROR: usize = 2048;
/// Most items [`Outbox::outbox_due`] returns at once.
pub const MAX_DUE: usize = 1000;

/// The columns an [`OutboxItem`] is read from, in order.
pub(crate) const OUTBOX_COLUMNS: &str = "id, topic, dedupe_key, target, payload, created_at, \
     attempts, next_attempt_at, last_error, delivered_at, gave_up_at, not_before";

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    /// Store-wide id.
    pub id: i64,
    /// What kind of message (`case_decided`), a word.
    pub topic: String,
    /// What makes it unique (`case_decided:17`).
    pub dedupe_key: String,
    /// Where it goes (a URL).
    pub target: String,
    /// What is sent.
    pub payload: String,
    /// When it was stored.
    pub created_at: Millis,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is due next.
    pub next_attempt_at: Millis,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When the receiver took it.
    pub delivered_at: Option<Millis>,
    /// When the worker stopped trying.
    pub gave_up_at: Option<Millis>,
    /// Not sent before this time (a held message, such as a user notice under "do not
    /// inform").
    pub not_before: Option<Millis>,
}

impl OutboxItem {
    /// When it could first be sent: its creation, or the end of its hold.
    pub fn due_from(&self) -> Millis {
        self.not_before.map_or(self.created_at, |t| t.max(self.created_at))
    }

    /// Neither delivered nor given up.
    pub fn pending(&self) -> bool {
        self.delivered_at.is_none() && self.gave_up_at.is_none()
    }
}

/// How many items are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Neither delivered nor given up.
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up.
    pub gave_up: u64,
}

/// Which items [`Outbox::outbox_find`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxQuery {
    /// Only these dedupe keys (empty: any).
    pub keys: Vec<String>,
    /// Only dedupe keys starting with this (ASCII keys, as Spoor makes them).
    pub key_prefix: Option<String>,
    /// Only items neither delivered nor given up.
    pub pending_only: bool,
    /// Ids above this (paging; 0 from the start).
    pub after: i64,
    /// Most items (at most [`MAX_DUE`]).
    pub limit: usize,
}

impl OutboxQuery {
    /// Checks the query; returns the key list as JSON text and the end of the prefix range
    /// (keys from the prefix up to, not including, the prefix followed by `~`).
    pub(crate) fn checked(&self) -> Result<(String, Option<(String, String)>)> {
        if self.limit == 0 || self.limit > MAX_DUE {
            return Err(BankError::Invalid(format!("limit {}: use 1 to {MAX_DUE}", self.limit)));
        }
        let range = match &self.key_prefix {
            Some(p) if p.is_empty() || !p.is_ascii() || p.len() > MAX_DEDUPE_KEY => {
                return Err(BankError::Invalid("key_prefix: 1 to 256 ASCII characters".into()))
            }
            Some(p) => Some((p.clone(), format!("{p}\u{7f}"))),
            None => None,
        };
        let keys = serde_json::to_string(&self.keys)
            .map_err(|e| BankError::Invalid(format!("keys: {e}")))?;
        Ok((keys, range))
    }
}

/// What every store does with the outbox. Each method is one transaction.
pub trait Outbox {
    /// Stores a message, due at `now`. Returns `false`, writing nothing, when an item with this
    /// `dedupe_key` exists already (in any state): enqueueing is idempotent.
    fn outbox_add(
        &self,
        topic: &str,
        dedupe_key: &str,
        target: &str,
        payload: &str,
        now: Millis,
    ) -> Result<bool>;
    /// Pending items of `topic` due at `now` (`next_attempt_at <= now`), oldest due first
    /// (`next_attempt_at`, then id), at most `limit` (≤ [`MAX_DUE`]). Only reads: two workers
    /// may be handed the same item; the conditional marks below make one of them lose.
    fn outbox_due(&self, topic: &str, now: Millis, limit: usize) -> Result<Vec<OutboxItem>>;
    /// Claims pending items of `topics` due at `now` that no live claim holds, until
    /// `now + lease_ms`, oldest due first, at most `limit`: what a worker then sends. Two
    /// workers (replicas on one PostgreSQL) never claim one item while its claim lasts
    /// (`FOR UPDATE SKIP LOCKED`); a retry ends the claim.
    fn outbox_claim(
        &self,
        topics: &[String],
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxItem>>;
    /// Marks a pending item delivered. `false` when it was not pending (delivered or given up
    /// already, by another worker say) or does not exist.
    fn outbox_delivered(&self, id: i64, now: Millis) -> Result<bool>;
    /// Records a failed attempt of a pending item: attempts + 1, the error, due again at
    /// `next_attempt_at`. `false` when it was not pending.
    fn outbox_retry(&self, id: i64, next_attempt_at: Millis, error: &str) -> Result<bool>;
    /// Stops trying a pending item, keeping the last error (attempts + 1). `false` when it was not
    /// pending.
    fn outbox_give_up(&self, id: i64, now: Millis, error: &str) -> Result<bool>;
    /// One item, if it exists.
    fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>>;
    /// Items by id (oldest first) as `q` says.
    fn outbox_find(&self, q: &OutboxQuery) -> Result<Vec<OutboxItem>>;
    /// How many items are pending, delivered and given up.
    fn outbox_counts(&self) -> Result<OutboxCounts>;
}

/// Checks what [`Outbox::outbox_add`] is given.
pub(crate) fn check_add(topic: &str, dedupe_key: &str, target: &str, payload: &str) -> Result<()> {
    let bad = |m: String| Err(BankError::Invalid(m));
    if topic.is_empty()
        || topic.len() > MAX_TOPIC
        || !topic.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return bad(format!(
            "outbox topic {topic:?}: use 1-{MAX_TOPIC} characters from a-z, 0-9 and _ (such as \
             case_decided)"
        ));
    }
    if dedupe_key.trim().is_empty() {
        return bad("the outbox dedupe key is empty: give what makes the message unique (such \
                    as case_decided:17)"
            .into());
    }
    check_text("the outbox dedupe key", dedupe_key, MAX_DEDUPE_KEY)
        .map_err(|m| BankError::Invalid(format!("{m}: use a shorter key")))?;
    if target.trim().is_empty() {
        return bad("the outbox target is empty: give where the message goes (a URL)".into());
    }
    check_text("the outbox target", target, MAX_TARGET)
        .map_err(|m| BankError::Invalid(format!("{m}: use a shorter URL")))?;
    if payload.len() > MAX_PAYLOAD {
        return bad(format!(
            "the outbox payload is {} bytes long: at most {MAX_PAYLOAD} are allowed; send less, \
             or a reference to it",
            payload.len()
        ));
    }
    Ok(())
}

/// Checks a page size of [`Outbox::outbox_due`].
pub(crate) fn check_limit(limit: usize) -> Result<i64> {
    if limit > MAX_DUE {
        return Err(BankError::Invalid(format!(
            "at most {MAX_DUE} outbox items are read at once: ask for fewer (asked {limit})"
        )));
    }
    Ok(limit as i64)
}

/// An error as kept: without control characters, cut at [`MAX_ERROR`] bytes on a character
/// boundary.
pub(crate) fn clean_error(error: &str) -> String {
    let mut out: String =
        error.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    if out.len() > MAX_ERROR {
        let mut cut = MAX_ERROR;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// Attempts as stored to the count kept in an item.
pub(crate) fn attempts(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cut_on_a_character_boundary_and_lose_control_characters() {
        let e = clean_error(&"é".repeat(MAX_ERROR));
        assert!(e.len() <= MAX_ERROR && e.len() >= MAX_ERROR - 1);
        assert_eq!(clean_error("a\nb\tc"), "a b c");
    }

    #[test]
    fn inputs_are_checked() {
        assert!(check_add("case_decided", "k", "http://x", "{}").is_ok());
        for (t, k, u, p) in [
            ("Case", "k", "u", ""),
            ("", "k", "u", ""),
            ("a b", "k", "u", ""),
            ("t", "", "u", ""),
            ("t", &"k".repeat(MAX_DEDUPE_KEY + 1), "u", ""),
            ("t", "k\n", "u", ""),
            ("t", "k", "", ""),
            ("t", "k", &"u".repeat(MAX_TARGET + 1), ""),
            ("t", "k", "u", &"p".repeat(MAX_PAYLOAD + 1)),
        ] {
            assert!(matches!(check_add(t, k, u, p), Err(BankError::Invalid(_))), "{t} {k}");
        }
    }
}
