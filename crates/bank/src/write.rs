//! The one write path of both stores. Validation, no-op detection and the building of change
//! records live here, once; a backend only provides a writing transaction ([`WriteTx`]) that
//! holds its writer lock, runs its SQL (placeholders differ) and bulk-inserts entries its own
//! way.
//!
//! Every operation: validate everything it was given, begin a transaction (which serializes
//! writers), read what it changes, decide whether anything changes at all (nothing: no record,
//! nothing written), number its records from the newest sequence number, write the rows and the
//! records, commit. An error at any point drops the transaction, which rolls it back.

use crate::model::{now_ms, EntryState, Millis, Record};
use crate::{
    check_actor, check_reason, validate_all, Action, Added, Bank, BankError, BankName,
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
}

/// One writing transaction of a backend. Dropping it without [`WriteTx::commit`] rolls back.
pub(crate) trait WriteTx {
    /// The next free sequence number (the writer lock is held from here on).
    fn next_seq(&mut self) -> Result<i64>;
    /// A bank by name.
    fn bank(&mut self, name: &str) -> Result<Option<Bank>>;
    /// Inserts a bank; returns its id.
    fn insert_bank(&mut self, bank: &NewBank, radius: u32, now: Millis) -> Result<i64>;
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
    /// Commits.
    fn commit(self) -> Result<()>;
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
    crate::model::check_text("description", &bank.description, 4096).map_err(BankError::Invalid)?;
    crate::model::check_text("owner", &bank.owner, 256).map_err(BankError::Invalid)?;
    let mut tx = store.begin_write()?;
    let seq = tx.next_seq()?;
    if tx.bank(&bank.name)?.is_some() {
        return Err(BankError::BankExists(bank.name.clone()));
    }
    let now = now_ms();
    tx.insert_bank(bank, bank.pdq_radius.unwrap_or(31), now)?;
    let created = bank_in(&mut tx, &bank.name)?;
    tx.insert_change(&bank_record(seq, now, actor, Action::CreateBank, &created, None))?;
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
    tx.insert_change(&bank_record(seq, now_ms(), actor, Action::UpdateBank, &bank, Some(&why)))?;
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
    tx.insert_change(&bank_record(seq, now_ms(), actor, Action::UpdateBank, &bank, Some(&why)))?;
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
    let out = tx.insert_entries(&bank, entries, actor, now_ms(), true)?;
    tx.commit()?;
    Ok(out)
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
    let record = Record {
        seq,
        at: now_ms(),
        actor,
        action: Action::Delete,
        bank_id: b.id,
        bank: &b.name,
        entry: Some(EntryState::of(&entry)),
        reason: Some(reason),
    };
    tx.insert_change(&record)?;
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
    Ok(Box::new(Import { store, tx: None, bank, actor: actor.to_string(), one_transaction }))
}

impl<'a, B: Backend + 'a> ImportSession for Import<'a, B> {
    fn write_batch(&mut self, entries: &[NewEntry]) -> Result<BatchOutcome> {
        validate_all(entries)?;
        let mut tx = match self.tx.take() {
            Some(tx) => tx,
            None => self.store.begin_write()?,
        };
        let added = tx.insert_entries(&self.bank, entries, &self.actor, now_ms(), false)?;
        if self.one_transaction {
            self.tx = Some(tx);
        } else {
            tx.commit()?;
        }
        let new = added.iter().filter(|a| matches!(a, Added::New(_))).count() as u64;
        Ok(BatchOutcome { added: new, present: entries.len() as u64 - new })
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        match self.tx.take() {
            Some(tx) => tx.commit(),
            None => Ok(()),
        }
    }
}
