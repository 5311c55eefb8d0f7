//! The deployment's audit log in the store: appending (each record sealed onto the head inside
//! the transaction that holds the log's writer lock), reading with filters, signed checkpoints,
//! and verifying the whole chain. The record format and the chain rules are `spoor-audit`'s.
//!
//! Bank and key changes are audited by the store itself, in the transaction that makes them
//! (so a change is never without its record, nor a record without its change); everything else
//! (logins, pages viewed, exports) is appended by the layer that did it.

use serde_json::json;
use spoor_audit::{Break, Checkpoint, Digest, NewRecord, Record, Verifier, VerifyingKey};

use crate::model::{now_ms, Millis};
use crate::write::{self, Backend, WriteTx};
use crate::{BankError, Result};

/// Most records one [`AuditLog::audit_records`] call returns.
pub const MAX_AUDIT_PAGE: usize = 10_000;

/// Which audit records to read. Filters combine with AND; text filters match exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records numbered above this.
    pub after: i64,
    /// Only records numbered below this.
    pub before: Option<i64>,
    /// Newest first (for paging back through the log with `before`).
    pub newest_first: bool,
    /// Only this actor (name, as stored without its kind).
    pub actor: Option<String>,
    /// Only actors of this kind (`user`, `key`, `cli`, `system`).
    pub actor_kind: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only objects of this kind.
    pub object_kind: Option<String>,
    /// Only this object (with `object_kind`, or of any kind).
    pub object_id: Option<String>,
    /// Only records at or after this time (milliseconds since the epoch).
    pub since: Option<Millis>,
    /// Only records before this time.
    pub until: Option<Millis>,
    /// At most this many (1 to [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

impl AuditQuery {
    /// Records numbered above `after`, oldest first, at most `limit`.
    pub fn after(after: i64, limit: usize) -> AuditQuery {
        AuditQuery { after, limit, ..AuditQuery::default() }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_AUDIT_PAGE {
            return Err(BankError::Invalid(format!(
                "limit {} is out of range: ask for 1 to {MAX_AUDIT_PAGE} audit records",
                self.limit
            )));
        }
        Ok(())
    }

    /// The WHERE clause and its parameters, with placeholders made by `ph(n)` (1-based).
    pub(crate) fn where_clause(&self, ph: impl Fn(usize) -> String) -> (String, Vec<Param>) {
        let mut conds = vec![];
        let mut params = vec![];
        let mut add = |cond: &str, p: Param, conds: &mut Vec<String>| {
            params.push(p);
            conds.push(format!("{cond} {}", ph(params.len())));
        };
        add("seq >", Param::Int(self.after), &mut conds);
        if let Some(b) = self.before {
            add("seq <", Param::Int(b), &mut conds);
        }
        if let Some(a) = &self.actor {
            add("actor =", Param::Text(a.clone()), &mut conds);
        }
        if let Some(k) = &self.actor_kind {
            add("actor_kind =", Param::Text(k.clone()), &mut conds);
        }
        if let Some(a) = &self.action {
            add("action =", Param::Text(a.clone()), &mut conds);
        }
        if let Some(k) = &self.object_kind {
            add("object_kind =", Param::Text(k.clone()), &mut conds);
        }
        if let Some(i) = &self.object_id {
            add("object_id =", Param::Text(i.clone()), &mut conds);
        }
        if let Some(t) = self.since {
            add("at >=", Param::Int(t), &mut conds);
        }
        if let Some(t) = self.until {
            add("at <", Param::Int(t), &mut conds);
        }
        (conds.join(" AND "), params)
    }

    pub(crate) fn order(&self) -> &'static str {
        if self.newest_first {
            "seq DESC"
        } else {
            "seq"
        }
    }
}

/// A query parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// The columns of an audit record, in [`Record`]'s order.
pub(crate) const AUDIT_COLUMNS: &str =
    "seq, at, actor_kind, actor, action, object_kind, object_id, details, prev_hash, hash";

/// A stored hash as a digest.
pub(crate) fn digest(bytes: &[u8]) -> Result<Digest> {
    bytes.try_into().map_err(|_| {
        BankError::Invalid(format!(
            "the database holds an audit hash of {} bytes instead of 32",
            bytes.len()
        ))
    })
}

/// A stored checkpoint row as a checkpoint.
pub(crate) fn checkpoint_from_parts(
    seq: i64,
    hash: &[u8],
    at: i64,
    public_key: &[u8],
    signature: &[u8],
) -> Result<Checkpoint> {
    let bad = |what: &str| {
        BankError::Invalid(format!("the database holds an audit checkpoint with a bad {what}"))
    };
    Ok(Checkpoint {
        seq,
        hash: digest(hash)?,
        at,
        public_key: public_key.try_into().map_err(|_| bad("public key"))?,
        signature: signature.try_into().map_err(|_| bad("signature"))?,
    })
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// The last record checked (number and hash).
    pub head: Option<(i64, Digest)>,
    /// Checkpoints checked (their signatures and the records they name).
    pub checkpoints: usize,
    /// The first record that does not fit, if any.
    pub broken: Option<Break>,
}

/// The audit log of a store.
pub trait AuditLog {
    /// Appends one record (its own transaction) and returns it as stored.
    fn audit_append(&self, record: &NewRecord) -> Result<Record>;
    /// Appends one record whose commit does not wait for the disk to flush: it survives a
    /// killed process but may be lost with the last moments before a power loss or a crash of
    /// the machine (never out of order: a later flushed commit flushes it too). For records of
    /// what was *viewed*, where a person waits for the page; changes are audited with a full
    /// flush, in their own transaction.
    fn audit_append_relaxed(&self, record: &NewRecord) -> Result<Record>;
    /// Appends several records in one transaction, in order (all or none).
    fn audit_append_all(&self, records: &[NewRecord]) -> Result<Vec<Record>>;
    /// The newest record's number and hash (`None`: the log is empty).
    fn audit_head(&self) -> Result<Option<(i64, Digest)>>;
    /// Records matching `query`, by number.
    fn audit_records(&self, query: &AuditQuery) -> Result<Vec<Record>>;
    /// Stores a checkpoint after checking its signature and that it names a record of this log
    /// with that hash; appends an `audit_checkpoint` record by `actor`.
    fn audit_add_checkpoint(&self, checkpoint: &Checkpoint, actor: &str) -> Result<Record>;
    /// The stored checkpoints, oldest first.
    fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>>;
}

/// Stores a checkpoint through a backend's writing transaction.
pub(crate) fn add_checkpoint<B: Backend>(
    store: &B,
    checkpoint: &Checkpoint,
    actor: &str,
) -> Result<Record> {
    crate::check_actor(actor)?;
    checkpoint.verify(None).map_err(|e| BankError::Invalid(e.to_string()))?;
    let mut tx = store.begin_write()?;
    // Taking the head first takes the audit log's lock.
    let head = tx.audit_head()?;
    let stored = tx.audit_hash_at(checkpoint.seq)?;
    if stored != Some(checkpoint.hash) {
        return Err(BankError::Invalid(format!(
            "the checkpoint names record {} with a hash this audit log {} (head: {})",
            checkpoint.seq,
            if stored.is_some() { "does not hold" } else { "has no record for" },
            head.map_or(0, |(s, _)| s)
        )));
    }
    tx.insert_checkpoint(checkpoint)?;
    let audit = NewRecord::by(actor, "audit_checkpoint", "audit", &checkpoint.seq.to_string())
        .with_details(json!({
            "hash": spoor_audit::hex(&checkpoint.hash),
            "public_key": spoor_audit::hex(&checkpoint.public_key),
        }));
    let record = write::append_audit(&mut tx, now_ms(), &audit)?;
    tx.commit()?;
    Ok(record)
}

/// Verifies a store's whole audit log: every record in order, every checkpoint stored in it
/// and every one in `extra` (exported ones, kept elsewhere), each checkpoint's signature (by
/// `trusted` when given). `progress` is called with the records checked so far, every page.
pub fn verify(
    log: &dyn AuditLog,
    extra: &[Checkpoint],
    trusted: Option<&VerifyingKey>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    let mut checkpoints = log.audit_checkpoints()?;
    for cp in extra {
        if !checkpoints.contains(cp) {
            checkpoints.push(cp.clone());
        }
    }
    let mut verifier = Verifier::new();
    for cp in &checkpoints {
        cp.verify(trusted).map_err(|e| BankError::Invalid(e.to_string()))?;
        verifier.expect(cp);
    }
    let mut after = 0;
    let mut broken = None;
    'pages: loop {
        let page = log.audit_records(&AuditQuery::after(after, MAX_AUDIT_PAGE))?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            if let Err(b) = verifier.push(r) {
                broken = Some(b);
                break 'pages;
            }
        }
        progress(verifier.checked());
    }
    if broken.is_none() {
        broken = verifier.finish().err();
    }
    Ok(VerifyReport {
        records: verifier.checked(),
        head: verifier.head(),
        checkpoints: checkpoints.len(),
        broken,
    })
}
