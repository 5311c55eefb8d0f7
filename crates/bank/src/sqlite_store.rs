//! The embedded store: one SQLite database file, `spoor.db`, in the data directory.
//!
//! WAL journal with `synchronous=FULL`: a committed transaction survives a killed process and a
//! power cut. The WAL is checkpointed every 256 MiB rather than SQLite's 4 MiB (bulk imports
//! rewrite the same index pages far less often) and truncated to 64 MiB afterwards. Writers serialize on SQLite's write lock (`BEGIN IMMEDIATE`), which is also what
//! makes sequence numbers follow commit order: each writing transaction reads the newest sequence
//! number after taking the lock and numbers its changes from there.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Row};
use spoor_core::SignalType;

use crate::model::{now_ms, Millis};
use crate::{
    check_actor, check_reason, Action, Added, ApiKey, Bank, BankError, BankName, BankStats,
    BatchOutcome, Change, Delta, Disabled, Entry, EntryUpdate, ImportSession, NewBank, NewEntry,
    Result, Store, MAX_BATCH,
};
use crate::{validate_all, SignalRow};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_banks.sql"),
    include_str!("../migrations/sqlite/0002_keys.sql"),
    include_str!("../migrations/sqlite/0003_key_distances.sql"),
];

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const ENTRY_COLUMNS: &str =
    "e.id, b.name, e.signal_type, e.value, e.category, e.severity, e.tags, \
     e.source_org, e.source_id, e.added_by, e.added_at, e.verified_by, e.verified_at, e.enabled, \
     e.disabled_by, e.disabled_at, e.disabled_reason, e.seq";

const BANK_COLUMNS: &str =
    "id, name, description, owner, created_at, enabled, review_required, pdq_radius";

impl SqliteStore {
    /// Opens `DIR/spoor.db`, creating the directory (mode 0700) and the database when missing,
    /// and brings its schema up to date.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|source| BankError::Io {
                context: format!("cannot create the data directory {}", dir.display()),
                source,
            })?;
        } else if !dir.is_dir() {
            return Err(BankError::Invalid(format!(
                "the data directory {} is not a directory",
                dir.display()
            )));
        }
        Self::open_file(&dir.join("spoor.db"))
    }

    /// Opens (or creates) the database file itself.
    pub fn open_file(path: &Path) -> Result<Self> {
        let err = |source| BankError::Sqlite { path: path.display().to_string(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -65536;
             PRAGMA wal_autocheckpoint = 65536;
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(err)?;
        let store = SqliteStore { path: path.to_path_buf(), conn: Mutex::new(conn) };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, source: rusqlite::Error) -> BankError {
        BankError::Sqlite { path: self.path.display().to_string(), source }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back an
        // unfinished transaction when the next one begins.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS spoor_schema (version INTEGER NOT NULL)")
            .map_err(|e| self.err(e))?;
        let version: i64 = tx
            .query_row("SELECT COALESCE(MAX(version), 0) FROM spoor_schema", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(BankError::SchemaTooNew { found: version, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).map_err(|e| self.err(e))?;
            tx.execute("INSERT INTO spoor_schema (version) VALUES (?1)", [i as i64 + 1])
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn bank_row(conn: &Connection, name: &str) -> rusqlite::Result<Option<Bank>> {
        conn.prepare_cached(&format!("SELECT {BANK_COLUMNS} FROM banks WHERE name = ?1"))?
            .query_row([name], bank_from_row)
            .optional()
    }

    fn bank_in(&self, conn: &Connection, name: &str) -> Result<Bank> {
        Self::bank_row(conn, name)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| BankError::NoSuchBank(name.to_string()))
    }
}

fn bank_from_row(r: &Row<'_>) -> rusqlite::Result<Bank> {
    Ok(Bank {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        owner: r.get(3)?,
        created_at: r.get(4)?,
        enabled: r.get(5)?,
        review_required: r.get(6)?,
        pdq_radius: r.get(7)?,
    })
}

fn conversion(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::new(BankError::Invalid(msg)),
    )
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let signal_type: String = r.get(2)?;
    let signal_type: SignalType = signal_type.parse().map_err(|e| conversion(2, format!("{e}")))?;
    let category: Option<String> = r.get(4)?;
    let severity: Option<String> = r.get(5)?;
    let tags: Option<String> = r.get(6)?;
    let enabled: bool = r.get(13)?;
    let disabled = match (r.get::<_, Option<String>>(14)?, r.get::<_, Option<Millis>>(15)?) {
        (Some(by), Some(at)) if !enabled => {
            Some(Disabled { by, at, reason: r.get::<_, Option<String>>(16)?.unwrap_or_default() })
        }
        _ => None,
    };
    Ok(Entry {
        id: r.get(0)?,
        bank: r.get(1)?,
        signal_type,
        value: r.get(3)?,
        category: category.map(|c| c.parse()).transpose().map_err(|e| conversion(4, e))?,
        severity: severity.map(|c| c.parse()).transpose().map_err(|e| conversion(5, e))?,
        tags: tags.map(|t| t.split(' ').map(str::to_string).collect()).unwrap_or_default(),
        source_org: r.get(7)?,
        source_id: r.get(8)?,
        added_by: r.get(9)?,
        added_at: r.get(10)?,
        verified_by: r.get(11)?,
        verified_at: r.get(12)?,
        enabled,
        disabled,
        seq: r.get(17)?,
    })
}

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<Change> {
    let action: String = r.get(3)?;
    Ok(Change {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: action.parse().map_err(|e| conversion(3, e))?,
        bank: r.get(4)?,
        entry_id: r.get(5)?,
        reason: r.get(6)?,
    })
}

fn next_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM changes", [], |r| r.get(0))
}

#[allow(clippy::too_many_arguments)]
fn insert_change(
    conn: &Connection,
    seq: i64,
    at: Millis,
    actor: &str,
    action: Action,
    bank_id: i64,
    entry_id: Option<i64>,
    signal: Option<(&str, &[u8])>,
    reason: Option<&str>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO changes (seq, at, actor, action, bank_id, entry_id, signal_type, value, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        seq,
        at,
        actor,
        action.name(),
        bank_id,
        entry_id,
        signal.map(|s| s.0),
        signal.map(|s| s.1),
        reason
    ])?;
    Ok(())
}

/// Inserts one entry unless the bank holds its signal already; returns the new id.
fn insert_entry(
    conn: &Connection,
    bank_id: i64,
    e: &NewEntry,
    actor: &str,
    now: Millis,
    seq: i64,
) -> rusqlite::Result<Option<i64>> {
    let tags = (!e.tags.is_empty()).then(|| e.tags.join(" "));
    let n = conn
        .prepare_cached(
            "INSERT INTO entries (bank_id, signal_type, value, category, severity, tags,
                 source_org, source_id, added_by, added_at, verified_by, verified_at, enabled,
                 disabled_by, disabled_at, disabled_reason, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (bank_id, signal_type, value) DO NOTHING",
        )?
        .execute(params![
            bank_id,
            e.signal_type.name(),
            e.value,
            e.category.map(|c| c.name()),
            e.severity.map(|s| s.name()),
            tags,
            e.source_org,
            e.source_id,
            e.added_by.as_deref().unwrap_or(actor),
            e.added_at.unwrap_or(now),
            e.verified_by,
            e.verified_at,
            e.enabled,
            e.disabled.as_ref().map(|d| d.by.as_str()),
            e.disabled.as_ref().map(|d| d.at),
            e.disabled.as_ref().map(|d| d.reason.as_str()),
            seq,
        ])?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// Writes a batch inside an open write transaction. `present_ids` also looks up the id of each
/// signal the bank already held (the API wants it; a bulk import only counts).
fn write_entries(
    conn: &Connection,
    bank_id: i64,
    entries: &[NewEntry],
    actor: &str,
    present_ids: bool,
) -> rusqlite::Result<Vec<Added>> {
    let now = now_ms();
    let mut seq = next_seq(conn)?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        match insert_entry(conn, bank_id, e, actor, now, seq)? {
            Some(id) => {
                insert_change(conn, seq, now, actor, Action::Add, bank_id, Some(id), None, None)?;
                seq += 1;
                out.push(Added::New(id));
            }
            None if present_ids => {
                let id = conn
                    .prepare_cached(
                        "SELECT id FROM entries WHERE bank_id = ?1 AND signal_type = ?2 AND value = ?3",
                    )?
                    .query_row(params![bank_id, e.signal_type.name(), e.value], |r| r.get(0))?;
                out.push(Added::Present(id));
            }
            None => out.push(Added::Present(0)),
        }
    }
    Ok(out)
}

struct SqliteImport<'a> {
    store: &'a SqliteStore,
    conn: MutexGuard<'a, Connection>,
    bank_id: i64,
    actor: String,
    one_transaction: bool,
    in_transaction: bool,
}

impl ImportSession for SqliteImport<'_> {
    fn write_batch(&mut self, entries: &[NewEntry]) -> Result<BatchOutcome> {
        validate_all(entries)?;
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.store.err(e))?;
            self.in_transaction = true;
        }
        let added = write_entries(&self.conn, self.bank_id, entries, &self.actor, false)
            .map_err(|e| self.store.err(e))?;
        if !self.one_transaction {
            self.conn.execute_batch("COMMIT").map_err(|e| self.store.err(e))?;
            self.in_transaction = false;
        }
        let new = added.iter().filter(|a| matches!(a, Added::New(_))).count() as u64;
        Ok(BatchOutcome { added: new, present: entries.len() as u64 - new })
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        if self.in_transaction {
            self.conn.execute_batch("COMMIT").map_err(|e| self.store.err(e))?;
            self.in_transaction = false;
        }
        Ok(())
    }
}

impl Drop for SqliteImport<'_> {
    fn drop(&mut self) {
        if self.in_transaction {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn create_bank(&self, bank: &NewBank, actor: &str) -> Result<Bank> {
        BankName::new(&bank.name)?;
        check_actor(actor)?;
        if let Some(r) = bank.pdq_radius {
            crate::model::check_radius(r).map_err(BankError::Invalid)?;
        }
        crate::model::check_text("description", &bank.description, 4096)
            .map_err(BankError::Invalid)?;
        crate::model::check_text("owner", &bank.owner, 256).map_err(BankError::Invalid)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        if Self::bank_row(&tx, &bank.name).map_err(|e| self.err(e))?.is_some() {
            return Err(BankError::BankExists(bank.name.clone()));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO banks (name, description, owner, created_at, review_required, pdq_radius)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                bank.name,
                bank.description,
                bank.owner,
                now,
                bank.review_required,
                bank.pdq_radius.unwrap_or(31)
            ],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        let seq = next_seq(&tx).map_err(|e| self.err(e))?;
        insert_change(&tx, seq, now, actor, Action::CreateBank, id, None, None, None)
            .map_err(|e| self.err(e))?;
        let created = self.bank_in(&tx, &bank.name)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(created)
    }

    fn banks(&self) -> Result<Vec<Bank>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {BANK_COLUMNS} FROM banks ORDER BY name"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], bank_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn bank(&self, name: &str) -> Result<Bank> {
        self.bank_in(&self.lock(), name)
    }

    fn set_bank_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Bank> {
        check_actor(actor)?;
        check_reason(reason)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let bank = self.bank_in(&tx, name)?;
        if bank.enabled == enabled {
            return Ok(bank);
        }
        tx.execute("UPDATE banks SET enabled = ?1 WHERE id = ?2", params![enabled, bank.id])
            .map_err(|e| self.err(e))?;
        let seq = next_seq(&tx).map_err(|e| self.err(e))?;
        let why = format!("{}: {reason}", if enabled { "enabled" } else { "disabled" });
        insert_change(
            &tx,
            seq,
            now_ms(),
            actor,
            Action::UpdateBank,
            bank.id,
            None,
            None,
            Some(&why),
        )
        .map_err(|e| self.err(e))?;
        let bank = self.bank_in(&tx, name)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(bank)
    }

    fn configure_bank(
        &self,
        name: &str,
        settings: &crate::BankSettings,
        actor: &str,
        reason: &str,
    ) -> Result<Bank> {
        check_actor(actor)?;
        check_reason(reason)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let mut bank = self.bank_in(&tx, name)?;
        let what = settings.apply(&mut bank).map_err(BankError::Invalid)?;
        if what.is_empty() {
            return Ok(bank);
        }
        tx.execute(
            "UPDATE banks SET description = ?1, owner = ?2, review_required = ?3, pdq_radius = ?4
             WHERE id = ?5",
            params![bank.description, bank.owner, bank.review_required, bank.pdq_radius, bank.id],
        )
        .map_err(|e| self.err(e))?;
        let seq = next_seq(&tx).map_err(|e| self.err(e))?;
        let why = format!("{what}: {reason}");
        insert_change(
            &tx,
            seq,
            now_ms(),
            actor,
            Action::UpdateBank,
            bank.id,
            None,
            None,
            Some(&why),
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(bank)
    }

    fn stats(&self, name: &str) -> Result<BankStats> {
        let conn = self.lock();
        let bank = self.bank_in(&conn, name)?;
        let mut stats = BankStats { bank: bank.name.clone(), ..Default::default() };
        let mut stmt = conn
            .prepare(
                "SELECT signal_type, COALESCE(category, 'none'), enabled, COUNT(*)
                 FROM entries WHERE bank_id = ?1 GROUP BY 1, 2, 3",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([bank.id]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let (t, c, enabled, n): (String, String, bool, i64) = (
                r.get(0).unwrap_or_default(),
                r.get(1).unwrap_or_default(),
                r.get(2).unwrap_or(true),
                r.get(3).unwrap_or(0),
            );
            stats.add(&t, &c, enabled, n as u64);
        }
        stats.last_seq = conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE bank_id = ?1",
                [bank.id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(stats)
    }

    fn add_entries(&self, bank: &str, entries: &[NewEntry], actor: &str) -> Result<Vec<Added>> {
        check_actor(actor)?;
        if entries.len() > MAX_BATCH {
            return Err(BankError::Invalid(format!(
                "{} entries in one batch: at most {MAX_BATCH} are allowed",
                entries.len()
            )));
        }
        validate_all(entries)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let bank = self.bank_in(&tx, bank)?;
        let out = write_entries(&tx, bank.id, entries, actor, true).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn import_session(
        &self,
        bank: &str,
        actor: &str,
        one_transaction: bool,
    ) -> Result<Box<dyn ImportSession + '_>> {
        check_actor(actor)?;
        let conn = self.lock();
        let bank_id = self.bank_in(&conn, bank)?.id;
        Ok(Box::new(SqliteImport {
            store: self,
            conn,
            bank_id,
            actor: actor.to_string(),
            one_transaction,
            in_transaction: false,
        }))
    }

    fn entry(&self, bank: &str, id: i64) -> Result<Entry> {
        let conn = self.lock();
        let b = self.bank_in(&conn, bank)?;
        conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
             WHERE e.id = ?1 AND e.bank_id = ?2"
        ))
        .and_then(|mut s| s.query_row(params![id, b.id], entry_from_row).optional())
        .map_err(|e| self.err(e))?
        .ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })
    }

    fn entries(&self, bank: &str, after_id: i64, limit: usize) -> Result<Vec<Entry>> {
        let conn = self.lock();
        let b = self.bank_in(&conn, bank)?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                 WHERE e.bank_id = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![b.id, after_id, limit as i64], entry_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn set_enabled(
        &self,
        bank: &str,
        id: i64,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Option<Change>> {
        check_actor(actor)?;
        check_reason(reason)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let b = self.bank_in(&tx, bank)?;
        let current: Option<bool> = tx
            .query_row(
                "SELECT enabled FROM entries WHERE id = ?1 AND bank_id = ?2",
                params![id, b.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match current {
            None => return Err(BankError::NoSuchEntry { bank: bank.to_string(), id }),
            Some(c) if c == enabled => return Ok(None),
            Some(_) => {}
        }
        let now = now_ms();
        let seq = next_seq(&tx).map_err(|e| self.err(e))?;
        if enabled {
            tx.execute(
                "UPDATE entries SET enabled = 1, disabled_by = NULL, disabled_at = NULL,
                     disabled_reason = NULL, seq = ?1 WHERE id = ?2",
                params![seq, id],
            )
        } else {
            tx.execute(
                "UPDATE entries SET enabled = 0, disabled_by = ?1, disabled_at = ?2,
                     disabled_reason = ?3, seq = ?4 WHERE id = ?5",
                params![actor, now, reason, seq, id],
            )
        }
        .map_err(|e| self.err(e))?;
        let action = if enabled { Action::Enable } else { Action::Disable };
        insert_change(&tx, seq, now, actor, action, b.id, Some(id), None, Some(reason))
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(Change::of_entry(seq, now, actor, action, b.name, id, reason)))
    }

    fn update_entry(
        &self,
        bank: &str,
        id: i64,
        update: &EntryUpdate,
        actor: &str,
        reason: &str,
    ) -> Result<(Entry, Option<Change>)> {
        check_actor(actor)?;
        check_reason(reason)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let b = self.bank_in(&tx, bank)?;
        let mut entry = tx
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                 WHERE e.id = ?1 AND e.bank_id = ?2"
            ))
            .and_then(|mut s| s.query_row(params![id, b.id], entry_from_row).optional())
            .map_err(|e| self.err(e))?
            .ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })?;
        let now = now_ms();
        if !update.apply(&mut entry, now).map_err(BankError::Invalid)? {
            return Ok((entry, None));
        }
        let seq = next_seq(&tx).map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE entries SET category = ?1, severity = ?2, tags = ?3, source_org = ?4,
                 source_id = ?5, verified_by = ?6, verified_at = ?7, seq = ?8 WHERE id = ?9",
            params![
                entry.category.map(|c| c.name()),
                entry.severity.map(|s| s.name()),
                (!entry.tags.is_empty()).then(|| entry.tags.join(" ")),
                entry.source_org,
                entry.source_id,
                entry.verified_by,
                entry.verified_at,
                seq,
                id
            ],
        )
        .map_err(|e| self.err(e))?;
        insert_change(&tx, seq, now, actor, Action::Update, b.id, Some(id), None, Some(reason))
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        entry.seq = seq;
        let change = Change::of_entry(seq, now, actor, Action::Update, b.name, id, reason);
        Ok((entry, Some(change)))
    }

    fn delete_entry(&self, bank: &str, id: i64, actor: &str, reason: &str) -> Result<Change> {
        check_actor(actor)?;
        check_reason(reason)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let b = self.bank_in(&tx, bank)?;
        let signal: Option<(String, Vec<u8>)> = tx
            .query_row(
                "SELECT signal_type, value FROM entries WHERE id = ?1 AND bank_id = ?2",
                params![id, b.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let (t, v) = signal.ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })?;
        tx.execute("DELETE FROM entries WHERE id = ?1", [id]).map_err(|e| self.err(e))?;
        let now = now_ms();
        let seq = next_seq(&tx).map_err(|e| self.err(e))?;
        insert_change(
            &tx,
            seq,
            now,
            actor,
            Action::Delete,
            b.id,
            Some(id),
            Some((&t, &v)),
            Some(reason),
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Change::of_entry(seq, now, actor, Action::Delete, b.name, id, reason))
    }

    fn export(
        &self,
        bank: &str,
        since: Option<i64>,
        sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
    ) -> Result<u64> {
        let conn = self.lock();
        let b = self.bank_in(&conn, bank)?;
        // One read transaction: the export is a consistent snapshot even while others write.
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = (|| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = ?1 AND e.seq > ?2 ORDER BY e.id"
                ))
                .map_err(|e| self.err(e))?;
            let mut rows =
                stmt.query(params![b.id, since.unwrap_or(0)]).map_err(|e| self.err(e))?;
            let mut n = 0;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let entry = entry_from_row(r).map_err(|e| self.err(e))?;
                sink(&entry).map_err(|source| BankError::Io {
                    context: "cannot write the export".into(),
                    source,
                })?;
                n += 1;
            }
            Ok(n)
        })();
        let _ = conn.execute_batch("COMMIT");
        result
    }

    fn log(&self, bank: Option<&str>, since: i64, limit: usize) -> Result<Vec<Change>> {
        let conn = self.lock();
        let bank_id = match bank {
            Some(name) => Some(self.bank_in(&conn, name)?.id),
            None => None,
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.seq, c.at, c.actor, c.action, b.name, c.entry_id, c.reason
                 FROM changes c JOIN banks b ON b.id = c.bank_id
                 WHERE c.seq > ?1 AND (?2 IS NULL OR c.bank_id = ?2) ORDER BY c.seq LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since, bank_id, limit as i64], change_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn deltas(&self, since: i64, limit: usize) -> Result<Vec<Delta>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.seq, c.action, c.bank_id, c.entry_id,
                        COALESCE(c.signal_type, e.signal_type), COALESCE(c.value, e.value),
                        COALESCE(e.enabled, 0), e.category
                 FROM changes c LEFT JOIN entries e ON e.id = c.entry_id
                 WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since, limit as i64], |r| {
                let action: String = r.get(1)?;
                let action: Action = action.parse().map_err(|e| conversion(1, e))?;
                let t: Option<String> = r.get(4)?;
                let v: Option<Vec<u8>> = r.get(5)?;
                let signal = match (t, v) {
                    (Some(t), Some(v)) => {
                        Some((t.parse().map_err(|e| conversion(4, format!("{e}")))?, v))
                    }
                    _ => None,
                };
                Ok(Delta {
                    seq: r.get(0)?,
                    action,
                    bank_id: r.get(2)?,
                    entry_id: r.get(3)?,
                    signal,
                    enabled: action != Action::Delete && r.get::<_, bool>(6)?,
                    category: r
                        .get::<_, Option<String>>(7)?
                        .map(|c| c.parse())
                        .transpose()
                        .map_err(|e| conversion(7, e))?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn last_seq(&self) -> Result<i64> {
        self.lock()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn signals(&self, after_id: i64, limit: usize) -> Result<Vec<SignalRow>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, bank_id, signal_type, value, enabled, category FROM entries
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after_id, limit as i64], |r| {
                let t: String = r.get(2)?;
                Ok(SignalRow {
                    id: r.get(0)?,
                    bank_id: r.get(1)?,
                    signal_type: t.parse().map_err(|e| conversion(2, format!("{e}")))?,
                    value: r.get(3)?,
                    enabled: r.get(4)?,
                    category: r
                        .get::<_, Option<String>>(5)?
                        .map(|c| c.parse())
                        .transpose()
                        .map_err(|e| conversion(5, e))?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn create_key(&self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()> {
        check_actor(&key.name)?;
        let conn = self.lock();
        let exists: bool = conn
            .query_row("SELECT COUNT(*) > 0 FROM api_keys WHERE name = ?1", [&key.name], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        if exists {
            return Err(BankError::KeyExists(key.name.clone()));
        }
        conn.execute(
            "INSERT INTO api_keys (key_id, name, role, banks, secret_hash, created_by, created_at,
                                   show_distance)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                key.key_id,
                key.name,
                key.role.name(),
                key.banks.as_ref().map(|b| b.join(",")),
                &secret_hash[..],
                key.created_by,
                key.created_at,
                key.show_distance
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn keys(&self) -> Result<Vec<(ApiKey, Vec<u8>)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key_id, name, role, banks, created_by, created_at, revoked_by, revoked_at,
                        secret_hash, show_distance FROM api_keys ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let role: String = r.get(2)?;
                let banks: Option<String> = r.get(3)?;
                Ok((
                    ApiKey {
                        key_id: r.get(0)?,
                        name: r.get(1)?,
                        role: role.parse().map_err(|e| conversion(2, e))?,
                        banks: banks.map(|b| b.split(',').map(str::to_string).collect()),
                        created_by: r.get(4)?,
                        created_at: r.get(5)?,
                        revoked_by: r.get(6)?,
                        revoked_at: r.get(7)?,
                        show_distance: r.get(9)?,
                    },
                    r.get(8)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn revoke_key(&self, name: &str, actor: &str) -> Result<ApiKey> {
        check_actor(actor)?;
        {
            let conn = self.lock();
            conn.execute(
                "UPDATE api_keys SET revoked_by = ?1, revoked_at = ?2
                 WHERE name = ?3 AND revoked_at IS NULL",
                params![actor, now_ms(), name],
            )
            .map_err(|e| self.err(e))?;
        }
        self.keys()?
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.name == name)
            .ok_or_else(|| BankError::NoSuchKey(name.to_string()))
    }
}
