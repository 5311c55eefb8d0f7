//! The one write path of both stores. Validation, no-op detection and the building of change
//! records live here, once; a backend only provides a writing transaction ([`WriteTx`]) that
//! holds its writer lock, runs its SQL (placeholders differ) and bulk-inserts entries its own
//! way.
//!
//! Every operation: validate everything it was given, begin a transaction (which serializes
//! writers), read what it changes, decide whether anything changes at all (nothing: no record,
//! nothing written), number its records from the newest sequence number, write the rows and the
//! records, commit. An error at any point drops the transaction, which rolls it back.

use serde_json::json;
use spoor_audit::{NewRecord, Record as AuditRecord};

use crate::model::{now_ms, EntryState, Millis, Record};
use crate::{
    check_actor, check_reason, validate_all, Action, Added, ApiKey, Bank, BankError, BankName,
    BankSettings, BatchOutcome, Change, Disabled, Entry, EntryUpdate, ImportSession, NewBank,
    NewEntry, Result, MAX_BATCH,
};

/// A store that can open writing transactions.
pub(crate) trait Backend: Sync {
    /// Its writing transaction.
    type Tx<'a>: WriteTx
    where
        Self: 'a;
    /// Begins a writing transaction. The writer lock is held from the first read or write in
    /// it (SQLite: at once) until it commits or is dropped (rolled back).
    fn begin_write(&self) -> Result<Self::Tx<'_>>;
    /// Begins a writing transaction whose commit does not wait for the disk to flush: it
    /// survives a killed process, not a power loss (SQLite `synchronous=NORMAL` in WAL mode,
    /// PostgreSQL `synchronous_commit=off`). Order is kept: a later flushed commit flushes it.
    fn begin_write_relaxed(&self) -> Result<Self::Tx<'_>>;
    /// Called after an import or a batch of adds committed `added` new entries: a store whose
    /// planner keeps statistics refreshes them when the entries have grown enough since it
    /// last did, so the next queries are planned for the bank's new size.
    fn after_bulk_load(&self, _added: u64) {}
}

/// One writing transaction of a backend. Dropping it without [`WriteTx::commit`] rolls back.
pub(crate) trait WriteTx {
    /// The next free sequence number (the writer lock is held from here on).
    fn next_seq(&mut self) -> Result<i64>;
    /// A bank by name.
    fn bank(&mut self, name: &str) -> Result<Option<Bank>>;
    /// Inserts a bank; returns its id.
    fn insert_bank(
        &mut self,
        bank: &NewBank,
        radius: u32,
        auto_confirm: Option<u32>,
        now: Millis,
    ) -> Result<i64>;
    /// Writes a bank's mutable fields (enabled, description, owner, review flag, radius).
    fn save_bank(&mut self, bank: &Bank) -> Result<()>;
    /// One entry of a bank, locked against other writers.
    fn entry(&mut self, bank: &Bank, id: i64) -> Result<Option<Entry>>;
    /// Writes an entry's mutable fields (classification, provenance, state, `seq`).
    fn save_entry(&mut self, entry: &Entry) -> Result<()>;
    /// Deletes an entry row.
    fn delete_entry(&mut self, id: i64) -> Result<()>;
    /// Appends one change record.
    fn insert_change(&mut self, record: &Record<'_>) -> Result<()>;
    /// Inserts the entries the bank does not hold yet, each with its `add` record (the state
    /// [`EntryState::added`] describes), numbered from the next sequence number; a signal the
    /// bank holds already consumes no entry id. One outcome per entry, in order; with
    /// `present_ids` false, `Present` outcomes may carry id 0.
    fn insert_entries(
        &mut self,
        bank: &Bank,
        entries: &[NewEntry],
        actor: &str,
        now: Millis,
        present_ids: bool,
    ) -> Result<Vec<Added>>;
    /// The audit log's head (number and hash; `None` when empty), taking the audit log's
    /// writer lock until the transaction ends. Bank writers take it after their own lock, and
    /// audit-only writers take only this one, so the two never wait on each other in a cycle.
    fn audit_head(&mut self) -> Result<Option<(i64, spoor_audit::Digest)>>;
    /// Appends a sealed audit record (after [`WriteTx::audit_head`]).
    fn insert_audit(&mut self, record: &AuditRecord) -> Result<()>;
    /// The stored hash of audit record `seq`.
    fn audit_hash_at(&mut self, seq: i64) -> Result<Option<spoor_audit::Digest>>;
    /// Inserts a checkpoint row.
    fn insert_checkpoint(&mut self, checkpoint: &spoor_audit::Checkpoint) -> Result<()>;
    /// Stores a new API key; [`BankError::KeyExists`] when the name is taken.
    fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()>;
    /// Revokes a key by name at `now`; false when it was revoked already. [`BankError::NoSuchKey`]
    /// when there is no such key.
    fn revoke_key(&mut self, name: &str, actor: &str, now: Millis) -> Result<bool>;
    /// Commits.
    fn commit(self) -> Result<()>;
}

/// Seals `new` onto the audit log's head and appends it, inside `tx`.
pub(crate) fn append_audit(
    tx: &mut impl WriteTx,
    at: Millis,
    new: &NewRecord,
) -> Result<AuditRecord> {
    let head = tx.audit_head()?;
    let record = AuditRecord::seal(head, at, new).map_err(|e| BankError::Invalid(e.to_string()))?;
    tx.insert_audit(&record)?;
    Ok(record)
}

/// Appends one audit record in its own transaction.
pub(crate) fn audit_append<B: Backend>(store: &B, new: &NewRecord) -> Result<AuditRecord> {
    new.validate().map_err(|e| BankError::Invalid(e.to_string()))?;
    let mut tx = store.begin_write()?;
    let record = append_audit(&mut tx, now_ms(), new)?;
    tx.commit()?;
    Ok(record)
}

/// Appends one audit record in its own transaction, committed without waiting for the disk
/// flush (see [`Backend::begin_write_relaxed`]).
pub(crate) fn audit_append_relaxed<B: Backend>(store: &B, new: &NewRecord) -> Result<AuditRecord> {
    new.validate().map_err(|e| BankError::Invalid(e.to_string()))?;
    let mut tx = store.begin_write_relaxed()?;
    let record = append_audit(&mut tx, now_ms(), new)?;
    tx.commit()?;
    Ok(record)
}

/// Appends several audit records in one transaction, in order.
pub(crate) fn audit_append_all<B: Backend>(
    store: &B,
    records: &[NewRecord],
) -> Result<Vec<AuditRecord>> {
    for (i, r) in records.iter().enumerate() {
        r.validate().map_err(|e| BankError::Invalid(format!("record {}: {e}", i + 1)))?;
    }
    let mut tx = store.begin_write()?;
    let now = now_ms();
    let out = records.iter().map(|r| append_audit(&mut tx, now, r)).collect::<Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(out)
}

/// The audit record of a bank-level change.
fn bank_audit(actor: &str, action: &str, bank: &Bank, details: serde_json::Value) -> NewRecord {
    NewRecord::by(actor, action, "bank", &bank.name).with_details(details)
}

/// Stores a new API key and its `key_create` audit record, in one transaction.
pub(crate) fn create_key<B: Backend>(
    store: &B,
    key: &ApiKey,
    secret_hash: &[u8; 32],
) -> Result<()> {
    check_actor(&key.name)?;
    check_actor(&key.created_by)?;
    let mut tx = store.begin_write()?;
    tx.insert_key(key, secret_hash)?;
    let audit =
        NewRecord::by(&key.created_by, "key_create", "key", &key.name).with_details(json!({
            "key_id": key.key_id,
            "role": key.role.name(),
            "banks": key.banks,
            "show_distance": key.show_distance,
        }));
    append_audit(&mut tx, key.created_at, &audit)?;
    tx.commit()
}

/// Revokes a key and writes its `key_revoke` audit record (none when it was revoked already).
pub(crate) fn revoke_key<B: Backend>(store: &B, name: &str, actor: &str) -> Result<()> {
    check_actor(actor)?;
    let mut tx = store.begin_write()?;
    let now = now_ms();
    if tx.revoke_key(name, actor, now)? {
        append_audit(&mut tx, now, &NewRecord::by(actor, "key_revoke", "key", name))?;
    }
    tx.commit()
}

fn bank_in(tx: &mut impl WriteTx, name: &str) -> Result<Bank> {
    tx.bank(name)?.ok_or_else(|| BankError::NoSuchBank(name.to_string()))
}

fn bank_record<'a>(
    seq: i64,
    at: Millis,
    actor: &'a str,
    action: Action,
    bank: &'a Bank,
    reason: Option<&'a str>,
) -> Record<'a> {
    Record { seq, at, actor, action, bank_id: bank.id, bank: &bank.name, entry: None, reason }
}

/// Creates a bank (one `create_bank` record).
pub(crate) fn create_bank<B: Backend>(store: &B, bank: &NewBank, actor: &str) -> Result<Bank> {
    BankName::new(&bank.name)?;
    check_actor(actor)?;
    if let Some(r) = bank.pdq_radius {
        crate::model::check_radius(r).map_err(BankError::Invalid)?;
    }
    let auto_confirm = crate::model::check_auto_confirm(
        bank.auto_confirm_distance.unwrap_or(crate::model::DEFAULT_AUTO_CONFIRM_DISTANCE as i32),
    )
    .map_err(BankError::Invalid)?;
    crate::model::check_text("description", &bank.description, 4096).map_err(BankError::Invalid)?;
    crate::model::check_text("owner", &bank.owner, 256).map_err(BankError::Invalid)?;
    if let Some(q) = &bank.review_queue {
        crate::model::check_review_queue(q).map_err(BankError::Invalid)?;
    }
    if let Some(r) = bank.hma_enabled_ratio {
        crate::model::check_hma_enabled_ratio(r).map_err(BankError::Invalid)?;
    }
    let mut tx = store.begin_write()?;
    let seq = tx.next_seq()?;
    if tx.bank(&bank.name)?.is_some() {
        return Err(BankError::BankExists(bank.name.clone()));
    }
    let now = now_ms();
    tx.insert_bank(bank, bank.pdq_radius.unwrap_or(31), auto_confirm, now)?;
    let created = bank_in(&mut tx, &bank.name)?;
    tx.insert_change(&bank_record(seq, now, actor, Action::CreateBank, &created, None))?;
    let details = json!({
        "change_seq": seq,
        "description": created.description,
        "owner": created.owner,
        "pdq_radius": created.pdq_radius,
        "review_required": created.review_required,
        "auto_confirm_distance": created.auto_confirm_distance,
        "four_eyes": created.four_eyes,
        "review_queue": created.review_queue,
        "hma_enabled_ratio": created.hma_enabled_ratio,
    });
    append_audit(&mut tx, now, &bank_audit(actor, "bank_create", &created, details))?;
    tx.commit()?;
    Ok(created)
}

/// Switches a bank on or off (one `update_bank` record; none when it is so already).
pub(crate) fn set_bank_enabled<B: Backend>(
    store: &B,
    name: &str,
    enabled: bool,
    actor: &str,
    reason: &str,
) -> Result<Bank> {
    check_actor(actor)?;
    check_reason(reason)?;
    let mut tx = store.begin_write()?;
    let seq = tx.next_seq()?;
    let mut bank = bank_in(&mut tx, name)?;
    if bank.enabled == enabled {
        return Ok(bank);
    }
    bank.enabled = enabled;
    tx.save_bank(&bank)?;
    let why = format!("{}: {reason}", if enabled { "enabled" } else { "disabled" });
    let now = now_ms();
    tx.insert_change(&bank_record(seq, now, actor, Action::UpdateBank, &bank, Some(&why)))?;
    let action = if enabled { "bank_resume" } else { "bank_pause" };
    let details = json!({"change_seq": seq, "reason": reason});
    append_audit(&mut tx, now, &bank_audit(actor, action, &bank, details))?;
    tx.commit()?;
    Ok(bank)
}

/// Changes a bank's settings (one `update_bank` record naming what changed; none when nothing
/// does).
pub(crate) fn configure_bank<B: Backend>(
    store: &B,
    name: &str,
    settings: &BankSettings,
    actor: &str,
    reason: &str,
) -> Result<Bank> {
    check_actor(actor)?;
    check_reason(reason)?;
    let mut tx = store.begin_write()?;
    let seq = tx.next_seq()?;
    let mut bank = bank_in(&mut tx, name)?;
    let what = settings.apply(&mut bank).map_err(BankError::Invalid)?;
    if what.is_empty() {
        return Ok(bank);
    }
    tx.save_bank(&bank)?;
    let why = format!("{what}: {reason}");
    let now = now_ms();
    tx.insert_change(&bank_record(seq, now, actor, Action::UpdateBank, &bank, Some(&why)))?;
    let details = json!({"change_seq": seq, "changed": what, "reason": reason});
    append_audit(&mut tx, now, &bank_audit(actor, "bank_configure", &bank, details))?;
    tx.commit()?;
    Ok(bank)
}

/// Adds entries in one transaction.
pub(crate) fn add_entries<B: Backend>(
    store: &B,
    bank: &str,
    entries: &[NewEntry],
    actor: &str,
) -> Result<Vec<Added>> {
    check_actor(actor)?;
    if entries.len() > MAX_BATCH {
        return Err(BankError::Invalid(format!(
            "{} entries in one batch: at most {MAX_BATCH} are allowed",
            entries.len()
        )));
    }
    validate_all(entries)?;
    let mut tx = store.begin_write()?;
    let bank = bank_in(&mut tx, bank)?;
    let now = now_ms();
    let out = tx.insert_entries(&bank, entries, actor, now, true)?;
    let added = out.iter().filter(|a| matches!(a, Added::New(_))).count() as u64;
    audit_added(&mut tx, now, actor, "entries_add", &bank, added, entries.len() as u64 - added)?;
    tx.commit()?;
    store.after_bulk_load(added);
    Ok(out)
}

/// Audits entries added in `tx` (nothing when none were new): their count and the change-log
/// numbers of their `add` records, which are the newest in the transaction.
fn audit_added(
    tx: &mut impl WriteTx,
    now: Millis,
    actor: &str,
    action: &str,
    bank: &Bank,
    added: u64,
    present: u64,
) -> Result<()> {
    if added == 0 {
        return Ok(());
    }
    let last = tx.next_seq()? - 1;
    let first = last - added as i64 + 1;
    let details = json!({
        "added": added,
        "present": present,
        "first_change_seq": first,
        "last_change_seq": last,
    });
    append_audit(tx, now, &bank_audit(actor, action, bank, details))?;
    Ok(())
}

/// Applies an optional enable/disable and an optional update to one entry in one transaction:
/// everything is checked before anything is written, and either both take effect or neither.
/// Returns the entry as it is afterwards and the records written (none when nothing changed):
/// `disable`/`enable` first, then `update`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn patch_entry<B: Backend>(
    store: &B,
    bank: &str,
    id: i64,
    enabled: Option<bool>,
    update: &EntryUpdate,
    actor: &str,
    reason: &str,
) -> Result<(Entry, Vec<Change>)> {
    check_actor(actor)?;
    check_reason(reason)?;
    let mut tx = store.begin_write()?;
    let seq = tx.next_seq()?;
    let b = bank_in(&mut tx, bank)?;
    let mut entry =
        tx.entry(&b, id)?.ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })?;
    let now = now_ms();
    // Validate and decide first; nothing is written unless all of it is valid.
    let original = entry.clone();
    let updated = update.apply(&mut entry, now).map_err(BankError::Invalid)?;
    let toggle = enabled.filter(|&e| e != entry.enabled);
    if toggle.is_none() && !updated {
        return Ok((entry, Vec::new()));
    }
    let mut records = Vec::with_capacity(2);
    let mut next = seq;
    if let Some(on) = toggle {
        // The toggle record carries the classification from before the update.
        let mut before = original;
        before.enabled = on;
        records.push((next, if on { Action::Enable } else { Action::Disable }, before));
        next += 1;
        entry.enabled = on;
        entry.disabled =
            (!on).then(|| Disabled { by: actor.to_string(), at: now, reason: reason.to_string() });
    }
    if updated {
        records.push((next, Action::Update, entry.clone()));
        next += 1;
    }
    entry.seq = next - 1;
    tx.save_entry(&entry)?;
    let mut changes = Vec::with_capacity(records.len());
    for (seq, action, state) in &records {
        let record = Record {
            seq: *seq,
            at: now,
            actor,
            action: *action,
            bank_id: b.id,
            bank: &b.name,
            entry: Some(EntryState::of(state)),
            reason: Some(reason),
        };
        tx.insert_change(&record)?;
        let action = match action {
            Action::Enable => "entry_enable",
            Action::Disable => "entry_disable",
            _ => "entry_update",
        };
        let details = json!({"bank": b.name, "change_seq": seq, "reason": reason});
        let audit = NewRecord::by(actor, action, "entry", &id.to_string()).with_details(details);
        append_audit(&mut tx, now, &audit)?;
        changes.push(record.to_change());
    }
    tx.commit()?;
    Ok((entry, changes))
}

/// Deletes an entry (one `delete` record keeping its signal and last classification).
pub(crate) fn delete_entry<B: Backend>(
    store: &B,
    bank: &str,
    id: i64,
    actor: &str,
    reason: &str,
) -> Result<Change> {
    check_actor(actor)?;
    check_reason(reason)?;
    let mut tx = store.begin_write()?;
    let seq = tx.next_seq()?;
    let b = bank_in(&mut tx, bank)?;
    let mut entry =
        tx.entry(&b, id)?.ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })?;
    tx.delete_entry(id)?;
    entry.enabled = false;
    let now = now_ms();
    let record = Record {
        seq,
        at: now,
        actor,
        action: Action::Delete,
        bank_id: b.id,
        bank: &b.name,
        entry: Some(EntryState::of(&entry)),
        reason: Some(reason),
    };
    tx.insert_change(&record)?;
    let details = json!({"bank": b.name, "change_seq": seq, "reason": reason});
    let audit =
        NewRecord::by(actor, "entry_delete", "entry", &id.to_string()).with_details(details);
    append_audit(&mut tx, now, &audit)?;
    tx.commit()?;
    Ok(record.to_change())
}

/// A bulk import over any backend: batches each committed whole, or one transaction for all.
pub(crate) struct Import<'a, B: Backend + 'a> {
    store: &'a B,
    tx: Option<B::Tx<'a>>,
    /// Resolved once: banks are never renamed or deleted. A batch therefore reads nothing before
    /// staging its rows, and PostgreSQL copies them in before taking the writer lock.
    bank: Bank,
    actor: String,
    one_transaction: bool,
    /// New entries committed so far.
    added: u64,
}

/// Starts an import into `bank` (which must exist).
pub(crate) fn import_session<'a, B: Backend>(
    store: &'a B,
    bank: &str,
    actor: &str,
    one_transaction: bool,
) -> Result<Box<dyn ImportSession + 'a>> {
    check_actor(actor)?;
    // Fail on a missing bank before anything is read.
    let mut tx = store.begin_write()?;
    let bank = bank_in(&mut tx, bank)?;
    drop(tx);
    Ok(Box::new(Import {
        store,
        tx: None,
        bank,
        actor: actor.to_string(),
        one_transaction,
        added: 0,
    }))
}

impl<'a, B: Backend + 'a> ImportSession for Import<'a, B> {
    fn write_batch(&mut self, entries: &[NewEntry]) -> Result<BatchOutcome> {
        validate_all(entries)?;
        let mut tx = match self.tx.take() {
            Some(tx) => tx,
            None => self.store.begin_write()?,
        };
        let now = now_ms();
        let added = tx.insert_entries(&self.bank, entries, &self.actor, now, false)?;
        let new = added.iter().filter(|a| matches!(a, Added::New(_))).count() as u64;
        let present = entries.len() as u64 - new;
        audit_added(&mut tx, now, &self.actor, "entries_import", &self.bank, new, present)?;
        if self.one_transaction {
            self.tx = Some(tx);
        } else {
            tx.commit()?;
        }
        self.added += new;
        Ok(BatchOutcome { added: new, present })
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        if let Some(tx) = self.tx.take() {
            tx.commit()?;
        }
        self.store.after_bulk_load(self.added);
        Ok(())
    }
}
