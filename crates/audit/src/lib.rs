//! The audit log's format: records chained by hash, their verification, and signed checkpoints.
//!
//! One audit log serves a whole deployment. Each [`Record`] holds its sequence number, time,
//! actor, action, object and details, the hash of the record before it, and its own hash:
//!
//! ```text
//! hash = SHA-256(prev_hash ‖ canonical bytes of the record)
//! ```
//!
//! so changing, removing or reordering any record breaks the chain from that record on, and a
//! [`Verifier`] fed the records in order names the first one that does not fit. Cutting the tail
//! off leaves a valid chain; a [`Checkpoint`] (the head's sequence number and hash, signed with
//! Ed25519 and kept outside the store) makes that detectable too.
//!
//! This crate knows no storage: stores append through [`Record::seal`] inside their own writing
//! transaction, and read records back as they were stored (text fields as text, so that a
//! verifier hashes exactly what is on disk).
//!
//! Details never hold media, banked values, passwords, codes or secrets; that is the callers'
//! duty, and the store's tests check it for what the store records itself.
//!
//! ```
//! use spoor_audit::{ActorKind, NewRecord, Record, Verifier};
//! let first = Record::seal(None, 1_700_000_000_000, &NewRecord::new(
//!     ActorKind::User, "alice", "login", "user", "alice")).unwrap();
//! let second = Record::seal(Some((first.seq, first.hash)), 1_700_000_000_500,
//!     &NewRecord::new(ActorKind::User, "alice", "logout", "user", "alice")).unwrap();
//! let mut v = Verifier::new();
//! v.push(&first).unwrap();
//! v.push(&second).unwrap();
//! assert_eq!(v.head(), Some((2, second.hash)));
//! ```

mod canonical;
mod checkpoint;

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use canonical::canonical_json;
pub use checkpoint::{
    generate_key, key_to_pem, public_key_to_pem, read_key, read_public_key, Checkpoint, SigningKey,
    VerifyingKey,
};

/// A SHA-256 digest: a record's hash, or the hash it follows.
pub type Digest = [u8; 32];

/// The hash the first record follows.
pub const GENESIS: Digest = [0; 32];

/// Largest canonical size of a record's details, in bytes.
pub const MAX_DETAILS: usize = 64 * 1024;

/// What the format's first bytes say (part of every record's canonical bytes, so a record can
/// never be read as a record of another format version).
const FORMAT: &[u8] = b"spoor-audit/1\0";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A record to append is not acceptable.
    #[error("invalid audit record: {0}")]
    Invalid(String),
    /// A checkpoint or key is not acceptable.
    #[error("{0}")]
    Checkpoint(String),
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person logged in to the console.
    User,
    /// An API key (by its name).
    Key,
    /// The command line on the server (by the operating-system user).
    Cli,
    /// The service itself (a scheduled job, a follower).
    System,
    /// An actor named without a kind (records written by tools before kinds existed).
    Unspecified,
}

impl ActorKind {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Key => "key",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
            ActorKind::Unspecified => "unspecified",
        }
    }

    /// Splits an actor as the stores' change log writes it (`key:NAME`, `user:NAME`,
    /// `cli:OSUSER`, `cli`, `system:JOB`) into its kind and name; any other text is
    /// [`ActorKind::Unspecified`] with the text as the name.
    pub fn split(actor: &str) -> (ActorKind, &str) {
        if actor == "cli" {
            return (ActorKind::Cli, "cli");
        }
        match actor.split_once(':') {
            Some(("user", n)) if !n.is_empty() => (ActorKind::User, n),
            Some(("key", n)) if !n.is_empty() => (ActorKind::Key, n),
            Some(("cli", n)) if !n.is_empty() => (ActorKind::Cli, n),
            Some(("system", n)) if !n.is_empty() => (ActorKind::System, n),
            _ => (ActorKind::Unspecified, actor),
        }
    }
}

impl std::str::FromStr for ActorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "user" => ActorKind::User,
            "key" => ActorKind::Key,
            "cli" => ActorKind::Cli,
            "system" => ActorKind::System,
            "unspecified" => ActorKind::Unspecified,
            _ => {
                return Err(format!(
                    "unknown actor kind {s:?}: use user, key, cli, system or unspecified"
                ))
            }
        })
    }
}

/// A record to append: everything but its number, time and hashes, which the store gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// What kind of actor acted.
    pub actor_kind: ActorKind,
    /// The actor's name (a person's or key's name, an operating-system user).
    pub actor: String,
    /// What was done, e.g. `login`, `entry_disable`, `entries_view` (`[a-z][a-z0-9_.]*`).
    pub action: String,
    /// The kind of object acted on, e.g. `user`, `key`, `bank`, `entry` (same characters).
    pub object_kind: String,
    /// Which object: its name or id.
    pub object_id: String,
    /// Anything else worth keeping, as a JSON object (never media, banked values or secrets).
    pub details: serde_json::Value,
}

impl NewRecord {
    /// A record with empty details.
    pub fn new(
        actor_kind: ActorKind,
        actor: &str,
        action: &str,
        object_kind: &str,
        object_id: &str,
    ) -> NewRecord {
        NewRecord {
            actor_kind,
            actor: actor.to_string(),
            action: action.to_string(),
            object_kind: object_kind.to_string(),
            object_id: object_id.to_string(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// A record whose actor is given as the change log writes it (see [`ActorKind::split`]).
    pub fn by(actor: &str, action: &str, object_kind: &str, object_id: &str) -> NewRecord {
        let (kind, name) = ActorKind::split(actor);
        NewRecord::new(kind, name, action, object_kind, object_id)
    }

    /// The same record with these details (a JSON object).
    pub fn with_details(mut self, details: serde_json::Value) -> NewRecord {
        self.details = details;
        self
    }

    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), AuditError> {
        check_text("actor", &self.actor, 256)?;
        check_word("action", &self.action)?;
        check_word("object kind", &self.object_kind)?;
        check_text("object id", &self.object_id, 256)?;
        if !self.details.is_object() {
            return Err(AuditError::Invalid("details must be a JSON object".into()));
        }
        Ok(())
    }
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), AuditError> {
    if s.is_empty() {
        return Err(AuditError::Invalid(format!("the {what} is empty")));
    }
    if s.chars().count() > max {
        return Err(AuditError::Invalid(format!("the {what} is longer than {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(AuditError::Invalid(format!("the {what} contains a control character")));
    }
    Ok(())
}

fn check_word(what: &str, s: &str) -> Result<(), AuditError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(AuditError::Invalid(format!(
            "the {what} {s:?} must be 1 to 64 of a-z, 0-9, '_' and '.', starting with a letter"
        )))
    }
}

/// A stored audit record, exactly as stored: text fields as text (a verifier hashes what is on
/// disk, whatever it says), times in milliseconds since the epoch (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When it was appended (milliseconds since the epoch, UTC).
    pub at: i64,
    /// [`ActorKind::name`] of the actor.
    pub actor_kind: String,
    /// The actor's name.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The kind of object acted on.
    pub object_kind: String,
    /// Which object.
    pub object_id: String,
    /// The details, canonical JSON text ([`canonical_json`]).
    pub details: String,
    /// The hash of the record before ([`GENESIS`] for the first).
    pub prev_hash: Digest,
    /// `SHA-256(prev_hash ‖ canonical bytes)`.
    pub hash: Digest,
}

impl Record {
    /// Makes the record that follows `prev` (`None`: the first record), appended at `at`.
    /// Stores call this inside the transaction that holds the log's writer lock, with the head
    /// they read in it.
    pub fn seal(
        prev: Option<(i64, Digest)>,
        at: i64,
        new: &NewRecord,
    ) -> Result<Record, AuditError> {
        new.validate()?;
        let details = canonical_json(&new.details);
        if details.len() > MAX_DETAILS {
            return Err(AuditError::Invalid(format!(
                "details take {} bytes, more than {MAX_DETAILS}",
                details.len()
            )));
        }
        let (prev_seq, prev_hash) = prev.unwrap_or((0, GENESIS));
        let seq = prev_seq
            .checked_add(1)
            .ok_or_else(|| AuditError::Invalid("the audit log is full".into()))?;
        let mut record = Record {
            seq,
            at,
            actor_kind: new.actor_kind.name().to_string(),
            actor: new.actor.clone(),
            action: new.action.clone(),
            object_kind: new.object_kind.clone(),
            object_id: new.object_id.clone(),
            details,
            prev_hash,
            hash: GENESIS,
        };
        record.hash = record.compute_hash();
        Ok(record)
    }

    /// The bytes the hash covers after `prev_hash`: the format tag, `seq` and `at` as 8-byte
    /// big-endian integers, then each text field as a 4-byte big-endian length and its UTF-8
    /// bytes, in the order of the struct. Length prefixes make every record's bytes unambiguous.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let (head, tail) = self.canonical_parts();
        let mut out = Vec::with_capacity(head.len() + 8 + tail.len());
        out.extend_from_slice(head);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&tail);
        out
    }

    /// The canonical bytes cut where `seq` goes: the format tag, and everything after `seq`
    /// (which does not depend on `seq` or `prev_hash`). A store that assigns `seq` and reads
    /// the head inside the database hashes `prev_hash ‖ head ‖ seq as 8 bytes big-endian ‖
    /// tail` there; that is [`Record::compute_hash`] exactly.
    pub fn canonical_parts(&self) -> (&'static [u8], Vec<u8>) {
        let texts = [
            &self.actor_kind,
            &self.actor,
            &self.action,
            &self.object_kind,
            &self.object_id,
            &self.details,
        ];
        let len = 8 + texts.iter().map(|t| 4 + t.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.at.to_be_bytes());
        for t in texts {
            // A field longer than 4 GiB cannot be stored; saturating keeps this total.
            let n = u32::try_from(t.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        (FORMAT, out)
    }

    /// `SHA-256(prev_hash ‖ canonical bytes)`, recomputed from the fields.
    pub fn compute_hash(&self) -> Digest {
        let mut h = Sha256::new();
        h.update(self.prev_hash);
        h.update(self.canonical_bytes());
        h.finalize().into()
    }

    /// The details as JSON (a string value holding the raw text when it is not JSON, which only
    /// a damaged store can hold).
    pub fn details_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.details)
            .unwrap_or_else(|_| serde_json::Value::String(self.details.clone()))
    }

    /// The time as RFC 3339 (UTC, milliseconds).
    pub fn at_rfc3339(&self) -> String {
        rfc3339(self.at)
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds), or the number when out of range.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Lower-case hex of a digest or key.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex of exactly `N` bytes.
pub fn parse_hex<const N: usize>(what: &str, s: &str) -> Result<[u8; N], AuditError> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return Err(AuditError::Checkpoint(format!(
            "{what} must be {} hex digits, got {} characters",
            2 * N,
            s.chars().count()
        )));
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| {
            AuditError::Checkpoint(format!(
                "{what} has a non-hex digit near position {}",
                2 * i + 1
            ))
        })?;
    }
    Ok(out)
}

/// Where and how a log stops fitting together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// A record's fields do not give its stored hash: it was changed after it was written.
    Modified {
        /// The record.
        seq: i64,
    },
    /// A record does not follow the one before it (its `prev_hash` is not that record's hash):
    /// records before it were changed and re-hashed, removed, or put in its place.
    Unlinked {
        /// The record.
        seq: i64,
    },
    /// Numbers skip: records are missing.
    Missing {
        /// The number expected next.
        expected: i64,
        /// The number found instead.
        found: i64,
    },
    /// A number repeats or goes back: records were reordered or duplicated.
    OutOfOrder {
        /// The number expected next.
        expected: i64,
        /// The number found instead.
        found: i64,
    },
    /// The record at a checkpoint's number is not the one the checkpoint signed.
    CheckpointMismatch {
        /// The checkpoint's sequence number.
        seq: i64,
    },
    /// The log ends before a checkpoint's number: its tail was cut.
    Truncated {
        /// The last record present (0: none).
        head: i64,
        /// The checkpoint's sequence number.
        checkpoint: i64,
    },
}

impl Break {
    /// The sequence number of the first record that does not fit.
    pub fn seq(&self) -> i64 {
        match *self {
            Break::Modified { seq }
            | Break::Unlinked { seq }
            | Break::CheckpointMismatch { seq } => seq,
            Break::Missing { expected, .. } | Break::OutOfOrder { expected, .. } => expected,
            Break::Truncated { head, .. } => head + 1,
        }
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Break::Modified { seq } => write!(
                f,
                "record {seq} was modified: its contents do not give the hash stored with it"
            ),
            Break::Unlinked { seq } => write!(
                f,
                "record {seq} does not follow record {}: a record before it was changed and \
                 re-hashed, or records were removed or replaced",
                seq - 1
            ),
            Break::Missing { expected, found } => write!(
                f,
                "record {expected} is missing: the log goes from {} to {found}",
                expected - 1
            ),
            Break::OutOfOrder { expected, found } => write!(
                f,
                "records are out of order at {expected}: found record {found} after {}",
                expected - 1
            ),
            Break::CheckpointMismatch { seq } => write!(
                f,
                "record {seq} is not the record the checkpoint at {seq} signed: the log was \
                 rewritten up to there"
            ),
            Break::Truncated { head, checkpoint } => write!(
                f,
                "the log ends at record {head} but a checkpoint covers it up to record \
                 {checkpoint}: its tail was cut"
            ),
        }
    }
}

/// Checks records fed in order: numbering, linking, hashes, and any checkpoints given.
#[derive(Debug, Clone)]
pub struct Verifier {
    next_seq: i64,
    prev: Digest,
    head: Option<(i64, Digest)>,
    /// Checkpoints to check, by sequence number (the hashes they signed).
    checkpoints: std::collections::BTreeMap<i64, Digest>,
    checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier of a whole log: the first record must be number 1, following [`GENESIS`].
    pub fn new() -> Verifier {
        Verifier::after(0, GENESIS)
    }

    /// A verifier of the records after `seq`, whose hash is `hash` (trusted, e.g. from a
    /// checkpoint or an earlier verification).
    pub fn after(seq: i64, hash: Digest) -> Verifier {
        Verifier {
            next_seq: seq.saturating_add(1),
            prev: hash,
            head: (seq > 0).then_some((seq, hash)),
            checkpoints: Default::default(),
            checked: 0,
        }
    }

    /// Also checks that the record at `checkpoint.seq` has the signed hash, and that the log
    /// reaches it. The checkpoint's signature is checked by the caller
    /// ([`Checkpoint::verify`]).
    pub fn expect(&mut self, checkpoint: &Checkpoint) {
        self.checkpoints.insert(checkpoint.seq, checkpoint.hash);
    }

    /// Checks the next record.
    pub fn push(&mut self, r: &Record) -> Result<(), Break> {
        if r.seq > self.next_seq {
            return Err(Break::Missing { expected: self.next_seq, found: r.seq });
        }
        if r.seq < self.next_seq {
            return Err(Break::OutOfOrder { expected: self.next_seq, found: r.seq });
        }
        if r.compute_hash() != r.hash {
            return Err(Break::Modified { seq: r.seq });
        }
        if r.prev_hash != self.prev {
            return Err(Break::Unlinked { seq: r.seq });
        }
        if let Some(signed) = self.checkpoints.get(&r.seq) {
            if *signed != r.hash {
                return Err(Break::CheckpointMismatch { seq: r.seq });
            }
        }
        self.prev = r.hash;
        self.head = Some((r.seq, r.hash));
        self.next_seq = r.seq.saturating_add(1);
        self.checked += 1;
        Ok(())
    }

    /// Ends the check: fails when a checkpoint lies beyond the last record.
    pub fn finish(&self) -> Result<(), Break> {
        let head = self.head.map_or(0, |(s, _)| s);
        match self.checkpoints.range(head + 1..).next() {
            Some((&checkpoint, _)) => Err(Break::Truncated { head, checkpoint }),
            None => Ok(()),
        }
    }

    /// The last record checked (number and hash).
    pub fn head(&self) -> Option<(i64, Digest)> {
        self.head
    }

    /// How many records were checked.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

/// One record in the exported form (`spoor audit export`, `GET /v1/audit`): hashes in hex, the
/// time both as RFC 3339 and in milliseconds, details as JSON. [`ExportedRecord::to_record`]
/// gives back the stored record, so an export can be verified on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRecord {
    /// Position in the log.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// When (milliseconds since the epoch).
    pub at_ms: i64,
    /// Kind of actor.
    pub actor_kind: String,
    /// Who.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// Kind of object.
    pub object_kind: String,
    /// Which object.
    pub object_id: String,
    /// Details.
    pub details: serde_json::Value,
    /// Hash of the record before, hex.
    pub prev_hash: String,
    /// This record's hash, hex.
    pub hash: String,
}

impl From<&Record> for ExportedRecord {
    fn from(r: &Record) -> Self {
        ExportedRecord {
            seq: r.seq,
            at: r.at_rfc3339(),
            at_ms: r.at,
            actor_kind: r.actor_kind.clone(),
            actor: r.actor.clone(),
            action: r.action.clone(),
            object_kind: r.object_kind.clone(),
            object_id: r.object_id.clone(),
            details: r.details_json(),
            prev_hash: hex(&r.prev_hash),
            hash: hex(&r.hash),
        }
    }
}

impl ExportedRecord {
    /// The record as stored (details back in canonical form).
    pub fn to_record(&self) -> Result<Record, AuditError> {
        let details = match &self.details {
            // A damaged store's non-JSON details were exported as a string; a string is not a
            // valid details value, so this only restores what was there.
            serde_json::Value::String(s)
                if serde_json::from_str::<serde_json::Value>(s).is_err() =>
            {
                s.clone()
            }
            v => canonical_json(v),
        };
        Ok(Record {
            seq: self.seq,
            at: self.at_ms,
            actor_kind: self.actor_kind.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            object_kind: self.object_kind.clone(),
            object_id: self.object_id.clone(),
            details,
            prev_hash: parse_hex("prev_hash", &self.prev_hash)?,
            hash: parse_hex("hash", &self.hash)?,
        })
    }
}

#[cfg(test)]
mod tests;
