//! Hash banks: named lists of signals with provenance, an append-only change log, and import and
//! export, on SQLite (embedded, the default) or PostgreSQL, behind one interface, [`Store`].
//!
//! * [`model`]: banks, entries, categories, the change log.
//! * [`Store`]: what both backends do; [`open`] picks one from a [`Location`].
//! * [`import`]: streaming, idempotent import of lines, CSV, jsonl and HMA CSV files.
//! * [`export`]: jsonl, lines and CSV writers.
//! * [`keys`]: making API keys (the key shown once, the hash stored).
//! * [`people`]: console accounts and sessions ([`People`], a part of every [`Store`]).
//! * [`cases`]: submitted content, its review queue and decisions ([`Cases`]).
//! * [`outbox`]: messages for other systems, stored durably until delivered ([`Outbox`]).
//! * [`reports`]: reports of confirmed cases, delivered step by step under a claim ([`Reports`]).
//! * [`audit`]: the deployment's hash-chained audit log ([`AuditLog`]); bank and key changes
//!   are audited by the store in the transaction that makes them.
//!
//! Invariants every store keeps:
//! * a signal (type, value) is stored at most once per bank;
//! * every change is one change-log record, with a sequence number assigned in commit order, so a
//!   follower that has applied everything up to `N` gets every later change from
//!   [`Store::deltas`]`(N, …)` and never misses one committed late;
//! * a write is all or nothing: a batch is committed whole or not at all;
//! * a change record names the entry's signal and state as of the change, so the change log
//!   alone replays to the live entries;
//! * an entry id is never handed out twice, not even after the entry is deleted.

pub mod audit;
pub mod browse;
pub mod cases;
pub mod complaints;
pub mod exchange;
pub mod export;
pub mod import;
pub mod keys;
pub mod model;
pub mod outbox;
pub mod people;
pub mod reports;
pub mod retention;
pub mod statistics;

mod error;
mod pg_cases;
mod pg_complaints;
mod pg_conn;
mod pg_exchanges;
mod pg_outbox;
mod pg_people;
mod pg_reports;
mod pg_retention;
mod pg_statistics;
mod postgres_store;
mod sqlite_cases;
mod sqlite_complaints;
mod sqlite_exchanges;
mod sqlite_outbox;
mod sqlite_people;
mod sqlite_reports;
mod sqlite_retention;
mod sqlite_statistics;
mod sqlite_store;
mod write;

use std::path::PathBuf;

use crate::model::Millis;

pub use audit::{AuditLog, AuditQuery, VerifyReport};
pub use cases::Cases;
pub use complaints::Complaints;
pub use error::{BankError, Result};
pub use model::{
    Action, ApiKey, Bank, BankName, BankSettings, BankStats, Category, Change, Delta, Disabled,
    Entry, EntryUpdate, NewBank, NewEntry, Role, Severity, SignalRow,
};
pub use outbox::{Outbox, OutboxCounts, OutboxItem};
pub use people::{People, PersonRole, Session, SessionLimits, SessionLookup, User};
pub use pg_conn::PgOptions;
pub use postgres_store::PostgresStore;
pub use reports::{Report, ReportState, Reports};
pub use sqlite_store::SqliteStore;

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite database `spoor.db` in this directory (created when missing).
    DataDir(PathBuf),
    /// A PostgreSQL server, `postgres://user:password@host:port/database`.
    Postgres(String),
}

/// Opens (and migrates) the store at `location`.
pub fn open(location: &Location) -> Result<Box<dyn Store>> {
    Ok(match location {
        Location::DataDir(dir) => Box::new(SqliteStore::open_dir(dir)?),
        Location::Postgres(url) => Box::new(PostgresStore::connect(url)?),
    })
}

/// Largest number of entries [`Store::add_entries`] takes in one call.
pub const MAX_BATCH: usize = 100_000;

/// What adding one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Stored, with this id.
    New(i64),
    /// The bank already holds this signal, under this id; nothing changed.
    Present(i64),
}

/// What one import batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Entries stored.
    pub added: u64,
    /// Entries the bank already held.
    pub present: u64,
}

/// A bulk write into one bank: batches, each committed whole, or all of them in one transaction.
/// Dropping a session without [`ImportSession::finish`] rolls back what is not committed.
pub trait ImportSession {
    /// Writes a batch. In per-batch mode it is committed before this returns.
    fn write_batch(&mut self, entries: &[NewEntry]) -> Result<BatchOutcome>;
    /// Commits what is left.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// What both stores do. Every method is a complete transaction unless it says otherwise.
pub trait Store:
    AuditLog
    + People
    + Cases
    + Complaints
    + exchange::Exchanges
    + Outbox
    + Reports
    + retention::Retention
    + statistics::Statistics
    + Send
    + Sync
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Where the data is, for messages (a path or a URL without its password).
    fn describe(&self) -> String;

    /// Creates a bank.
    fn create_bank(&self, bank: &NewBank, actor: &str) -> Result<Bank>;
    /// All banks, by name.
    fn banks(&self) -> Result<Vec<Bank>>;
    /// One bank.
    fn bank(&self, name: &str) -> Result<Bank>;
    /// Switches a bank on or off as a whole (one change-log record).
    fn set_bank_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Bank>;
    /// Changes a bank's settings (one `update_bank` record naming what changed and why).
    fn configure_bank(
        &self,
        name: &str,
        settings: &BankSettings,
        actor: &str,
        reason: &str,
    ) -> Result<Bank>;
    /// Counts for one bank.
    fn stats(&self, name: &str) -> Result<BankStats>;

    /// Adds entries in one transaction (at most [`MAX_BATCH`]); one outcome per entry, in order.
    fn add_entries(&self, bank: &str, entries: &[NewEntry], actor: &str) -> Result<Vec<Added>>;
    /// Starts a bulk import into `bank`; `one_transaction` makes the whole import one commit.
    fn import_session(
        &self,
        bank: &str,
        actor: &str,
        one_transaction: bool,
    ) -> Result<Box<dyn ImportSession + '_>>;
    /// One entry.
    fn entry(&self, bank: &str, id: i64) -> Result<Entry>;
    /// Entries of a bank with id > `after_id`, by id, at most `limit`.
    fn entries(&self, bank: &str, after_id: i64, limit: usize) -> Result<Vec<Entry>>;
    /// A page of a bank's entries with id > `after_id` passing `filter`, by id: at most `limit`
    /// entries, examining at most `max_scan` entries of the bank (disabled entries are found
    /// through an index of their own, so that filter never scans live ones).
    fn entries_page(
        &self,
        bank: &str,
        filter: &browse::EntryFilter,
        after_id: i64,
        limit: usize,
        max_scan: usize,
    ) -> Result<browse::EntryPage>;
    /// How many entries of `bank` are disabled (read through the index of disabled entries, so
    /// it costs what the disabled entries number, not the bank).
    fn count_disabled(&self, bank: &str) -> Result<u64>;
    /// The entry of `bank` holding exactly this signal (canonical bytes), if any.
    fn entry_by_value(
        &self,
        bank: &str,
        signal_type: spoor_core::SignalType,
        value: &[u8],
    ) -> Result<Option<Entry>>;
    /// Every change-log record of one entry of `bank`, oldest first, at most `limit` (from the
    /// change log alone, so also for a deleted entry).
    fn entry_history(&self, bank: &str, id: i64, limit: usize) -> Result<Vec<Change>>;
    /// Applies an optional enable/disable and an optional [`EntryUpdate`] to one entry, with who
    /// and why, in ONE transaction: everything is validated before anything is written, so
    /// either all of it takes effect or none. Returns the entry as it is afterwards and the
    /// change records written, in sequence order (a `disable`/`enable` record, then an `update`
    /// record; none when nothing changed).
    #[allow(clippy::too_many_arguments)]
    fn patch_entry(
        &self,
        bank: &str,
        id: i64,
        enabled: Option<bool>,
        update: &EntryUpdate,
        actor: &str,
        reason: &str,
    ) -> Result<(Entry, Vec<Change>)>;
    /// Disables or enables an entry, with who and why. Doing what is already so records nothing
    /// and returns `None`.
    fn set_enabled(
        &self,
        bank: &str,
        id: i64,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Option<Change>> {
        let (_, mut changes) =
            self.patch_entry(bank, id, Some(enabled), &EntryUpdate::default(), actor, reason)?;
        Ok(changes.pop())
    }
    /// Changes an entry's classification or provenance, with who and why (one `update` record).
    /// Returns the entry as it is now, and `None` for the change when nothing changed.
    fn update_entry(
        &self,
        bank: &str,
        id: i64,
        update: &EntryUpdate,
        actor: &str,
        reason: &str,
    ) -> Result<(Entry, Option<Change>)> {
        let (entry, mut changes) = self.patch_entry(bank, id, None, update, actor, reason)?;
        Ok((entry, changes.pop()))
    }
    /// Deletes an entry for good (its `delete` record keeps its signal and classification).
    fn delete_entry(&self, bank: &str, id: i64, actor: &str, reason: &str) -> Result<Change>;
    /// Streams a bank's entries by id; with `since`, only those changed after that sequence
    /// number. Returns how many were written.
    fn export(
        &self,
        bank: &str,
        since: Option<i64>,
        sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
    ) -> Result<u64>;

    /// Records that the disabled entry `id` of `bank` is to be enabled again at `until`, unless
    /// it changes after the change numbered `seq` (its disable). Replaces an earlier schedule.
    fn schedule_enable(&self, bank: &str, id: i64, until: Millis, seq: i64) -> Result<()>;
    /// When entry `id`'s timed disable ends, if one is scheduled.
    fn scheduled_enable(&self, id: i64) -> Result<Option<Millis>>;
    /// Timed disables whose time is at or before `now`, earliest first, at most `limit`.
    fn due_enables(&self, now: Millis, limit: usize) -> Result<Vec<TimedDisable>>;
    /// Forgets entry `id`'s timed disable.
    fn clear_enable(&self, id: i64) -> Result<()>;

    /// Change-log records after `since`, oldest first, at most `limit`; of one bank or all. Read
    /// from the change log alone: each record says what the entry was as of that change.
    fn log(&self, bank: Option<&str>, since: i64, limit: usize) -> Result<Vec<Change>>;
    /// What a follower (an index, a replica) applies: changes after `since`, with the signal and
    /// the entry's state as of each change, read from the change log alone. Replaying
    /// `deltas(0, …)` rebuilds exactly the live entries (ids, bank, signal, state, category).
    fn deltas(&self, since: i64, limit: usize) -> Result<Vec<Delta>>;
    /// The newest sequence number (0 for an empty log).
    fn last_seq(&self) -> Result<i64>;
    /// Stored signals of every bank with id > `after_id`, by id, at most `limit`: how a follower
    /// loads everything before following [`Store::deltas`].
    fn signals(&self, after_id: i64, limit: usize) -> Result<Vec<SignalRow>>;

    /// Stores a new API key: its record and the SHA-256 of its secret.
    fn create_key(&self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()>;
    /// All keys, revoked ones included, with the SHA-256 of their secrets.
    fn keys(&self) -> Result<Vec<(ApiKey, Vec<u8>)>>;
    /// Revokes a key by name; it authenticates nothing from then on.
    fn revoke_key(&self, name: &str, actor: &str) -> Result<ApiKey>;
}

/// Checks every entry of a batch, naming the first bad one (1-based).
pub(crate) fn validate_all(entries: &[NewEntry]) -> Result<()> {
    for (i, e) in entries.iter().enumerate() {
        e.validate().map_err(|m| BankError::Invalid(format!("entry {}: {m}", i + 1)))?;
    }
    Ok(())
}

/// An entry disabled until a time: enabled again then, unless it changed after its disable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedDisable {
    /// The bank.
    pub bank: String,
    /// The entry.
    pub entry_id: i64,
    /// When it is enabled again.
    pub until: Millis,
    /// The sequence number of its disable: a later change to the entry cancels the schedule.
    pub seq: i64,
}

/// Who enables entries whose timed disable has ended, on the change log.
pub const TIMED_ENABLE_ACTOR: &str = "system:timed-disable";

/// Disables an entry until `until`, with who and why: the disable is one change-log record (its
/// reason says until when), and the entry is enabled again by [`enable_due`] once `until` has
/// passed — unless someone changes it first.
pub fn disable_until(
    store: &dyn Store,
    bank: &str,
    id: i64,
    until: Millis,
    actor: &str,
    reason: &str,
) -> Result<Entry> {
    let reason = format!("{reason} (until {})", model::format_time(until));
    let (entry, _) =
        store.patch_entry(bank, id, Some(false), &EntryUpdate::default(), actor, &reason)?;
    store.schedule_enable(bank, id, until, entry.seq)?;
    Ok(entry)
}

/// Enables the entries whose timed disable ended by `now`, each with a change-log record naming
/// the time; a schedule whose entry changed after its disable (enabled, disabled again, deleted)
/// is dropped without acting. Returns how many entries were enabled.
pub fn enable_due(store: &dyn Store, now: Millis) -> Result<usize> {
    let mut enabled = 0;
    loop {
        let due = store.due_enables(now, 100)?;
        if due.is_empty() {
            return Ok(enabled);
        }
        for t in due {
            match store.entry(&t.bank, t.entry_id) {
                Ok(e) if e.seq == t.seq && !e.enabled => {
                    let reason = format!(
                        "disabled until {}; that time has passed",
                        model::format_time(t.until)
                    );
                    store.patch_entry(
                        &t.bank,
                        t.entry_id,
                        Some(true),
                        &EntryUpdate::default(),
                        TIMED_ENABLE_ACTOR,
                        &reason,
                    )?;
                    enabled += 1;
                }
                Ok(_) | Err(BankError::NoSuchEntry { .. }) | Err(BankError::NoSuchBank(_)) => {}
                Err(e) => return Err(e),
            }
            store.clear_enable(t.entry_id)?;
        }
    }
}

/// Checks an actor name (who is acting: a user, an API key's name).
pub(crate) fn check_actor(actor: &str) -> Result<()> {
    if actor.trim().is_empty() {
        return Err(BankError::Invalid("the actor (who is making the change) is empty".into()));
    }
    model::check_text("actor", actor, 256).map_err(BankError::Invalid)
}

/// Checks a reason given for a change.
pub(crate) fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(BankError::Invalid(
            "a reason is required: say why (for example --reason \"stock photo, not abuse\")"
                .into(),
        ));
    }
    model::check_text("reason", reason, 4096).map_err(BankError::Invalid)
}
