//! The embedded store: one SQLite database file, `spoor.db`, in the data directory.
//!
//! WAL journal with `synchronous=FULL`: a committed transaction survives a killed process and a
//! power cut. The WAL is checkpointed every 256 MiB rather than SQLite's 4 MiB (bulk imports
//! rewrite the same index pages far less often) and truncated to 64 MiB afterwards. Writers serialize on SQLite's write lock (`BEGIN IMMEDIATE`), which is also what
//! makes sequence numbers follow commit order: each writing transaction reads the newest sequence
//! number after taking the lock and numbers its changes from there.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Row};
use spoor_core::SignalType;

use crate::model::{EntryState, Millis, Record};
use crate::write::{self, Backend, WriteTx};
use crate::{
    Action, Added, ApiKey, Bank, BankError, BankSettings, BankStats, Change, Delta, Disabled,
    Entry, EntryUpdate, ImportSession, NewBank, NewEntry, Result, SignalRow, Store,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_banks.sql"),
    include_str!("../migrations/sqlite/0002_keys.sql"),
    include_str!("../migrations/sqlite/0003_key_distances.sql"),
    include_str!("../migrations/sqlite/0004_change_log.sql"),
    include_str!("../migrations/sqlite/0005_people_and_audit.sql"),
    include_str!("../migrations/sqlite/0006_entry_browsing.sql"),
    include_str!("../migrations/sqlite/0007_entries_by_bank.sql"),
    include_str!("../migrations/sqlite/0008_cases.sql"),
    include_str!("../migrations/sqlite/0009_outbox.sql"),
    include_str!("../migrations/sqlite/0010_review_queues.sql"),
    include_str!("../migrations/sqlite/0011_review_views.sql"),
    include_str!("../migrations/sqlite/0012_following.sql"),
    include_str!("../migrations/sqlite/0013_claim_function.sql"),
    include_str!("../migrations/sqlite/0014_reports.sql"),
    include_str!("../migrations/sqlite/0015_complaints.sql"),
    include_str!("../migrations/sqlite/0016_retention.sql"),
    include_str!("../migrations/sqlite/0017_usage.sql"),
    include_str!("../migrations/sqlite/0018_case_technologies.sql"),
    include_str!("../migrations/sqlite/0019_timed_disables.sql"),
    include_str!("../migrations/sqlite/0020_exchange_positions.sql"),
    include_str!("../migrations/sqlite/0021_exchanges.sql"),
    include_str!("../migrations/sqlite/0022_hma_enabled_ratio.sql"),
];

/// Read connections kept open between reads.
const IDLE_READERS: usize = 8;

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    /// The one connection that writes.
    conn: Mutex<Connection>,
    /// Idle read connections: reads run on their own connections, so in WAL mode they never
    /// wait for a writer (nor a writer for them).
    readers: Mutex<Vec<Connection>>,
}

/// A read connection borrowed from the pool; it goes back when dropped.
pub(crate) struct ReadConn<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl Deref for ReadConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a read connection is present until dropped")
    }
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection left inside a transaction (a failed export) is not reused.
            if conn.is_autocommit() {
                let mut idle = self.store.readers.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE_READERS {
                    idle.push(conn);
                }
            }
        }
    }
}

const ENTRY_COLUMNS: &str =
    "e.id, b.name, e.signal_type, e.value, e.category, e.severity, e.tags, \
     e.source_org, e.source_id, e.added_by, e.added_at, e.verified_by, e.verified_at, e.enabled, \
     e.disabled_by, e.disabled_at, e.disabled_reason, e.seq";

const BANK_COLUMNS: &str =
    "id, name, description, owner, created_at, enabled, review_required, pdq_radius, \
     auto_confirm_distance, four_eyes, review_queue, hma_enabled_ratio";

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
        let store = SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> BankError {
        BankError::Sqlite { path: self.path.display().to_string(), source }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back an
        // unfinished transaction when the next one begins.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read connection: an idle one, or a new one (read-only, on the same file).
    pub(crate) fn read(&self) -> Result<ReadConn<'_>> {
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(&self.path).map_err(|e| self.err(e))?;
                conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| self.err(e))?;
                conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -16384;")
                    .map_err(|e| self.err(e))?;
                conn
            }
        };
        Ok(ReadConn { store: self, conn: Some(conn) })
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
        auto_confirm_distance: r.get(8)?,
        four_eyes: r.get(9)?,
        review_queue: r.get(10)?,
        hma_enabled_ratio: r.get(11)?,
    })
}

fn conversion(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::new(BankError::Invalid(msg)),
    )
}

fn parse_col<T: std::str::FromStr>(r: &Row<'_>, col: usize) -> rusqlite::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    r.get::<_, Option<String>>(col)?
        .map(|s| s.parse::<T>())
        .transpose()
        .map_err(|e| conversion(col, e.to_string()))
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let signal_type: SignalType =
        parse_col(r, 2)?.ok_or_else(|| conversion(2, "no signal type".into()))?;
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
        category: parse_col(r, 4)?,
        severity: parse_col(r, 5)?,
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

/// Columns of a change record, as [`change_from_row`] and [`delta_from_row`] read them.
const CHANGE_COLUMNS: &str = "seq, at, actor, action, COALESCE(bank_name, ''), entry_id, \
     signal_type, value, enabled, category, severity, reason, bank_id";

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<Change> {
    let signal_type: Option<SignalType> = parse_col(r, 6)?;
    let value: Option<Vec<u8>> = r.get(7)?;
    Ok(Change {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: parse_col(r, 3)?.ok_or_else(|| conversion(3, "no action".into()))?,
        bank: r.get(4)?,
        entry_id: r.get(5)?,
        signal_type,
        value: signal_type.zip(value).map(|(t, v)| t.format(&v)),
        enabled: r.get(8)?,
        category: parse_col(r, 9)?,
        severity: parse_col(r, 10)?,
        reason: r.get(11)?,
    })
}

fn delta_from_row(r: &Row<'_>) -> rusqlite::Result<Delta> {
    let action: Action = parse_col(r, 3)?.ok_or_else(|| conversion(3, "no action".into()))?;
    let signal_type: Option<SignalType> = parse_col(r, 6)?;
    let value: Option<Vec<u8>> = r.get(7)?;
    Ok(Delta {
        seq: r.get(0)?,
        action,
        bank_id: r.get(12)?,
        entry_id: r.get(5)?,
        signal: signal_type.zip(value),
        enabled: action != Action::Delete && r.get::<_, Option<bool>>(8)?.unwrap_or(false),
        category: parse_col(r, 9)?,
    })
}

/// The newest audit record's number and hash, read on a connection that holds the write lock.
pub(crate) fn audit_head_in(
    store: &SqliteStore,
    conn: &Connection,
) -> Result<Option<(i64, spoor_audit::Digest)>> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(|e| store.err(e))?;
    row.map(|(seq, hash)| Ok((seq, crate::audit::digest(&hash)?))).transpose()
}

/// Inserts a sealed audit record, on a connection that holds the write lock.
pub(crate) fn insert_audit_in(
    store: &SqliteStore,
    conn: &Connection,
    r: &spoor_audit::Record,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (seq, at, actor_kind, actor, action, object_kind, object_id,
             details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
            r.seq,
            r.at,
            r.actor_kind,
            r.actor,
            r.action,
            r.object_kind,
            r.object_id,
            r.details,
            &r.prev_hash[..],
            &r.hash[..],
        ])
    })
    .map_err(|e| store.err(e))?;
    Ok(())
}

/// A writing transaction: `BEGIN IMMEDIATE` on the writer connection (SQLite's write lock).
pub(crate) struct SqliteTx<'a> {
    store: &'a SqliteStore,
    conn: MutexGuard<'a, Connection>,
    open: bool,
    /// Begun with `synchronous = NORMAL`, to be set back to `FULL` when it ends.
    relaxed: bool,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if self.relaxed {
            // If this fails the connection is broken, and the next statement says so.
            let _ = self.conn.execute_batch("PRAGMA synchronous = FULL");
        }
    }
}

impl Backend for SqliteStore {
    type Tx<'a> = SqliteTx<'a>;

    fn begin_write(&self) -> Result<SqliteTx<'_>> {
        let conn = self.lock();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        Ok(SqliteTx { store: self, conn, open: true, relaxed: false })
    }

    fn begin_write_relaxed(&self) -> Result<SqliteTx<'_>> {
        let conn = self.lock();
        conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(|e| self.err(e))?;
        // From here on the drop of the transaction restores FULL, whatever happens.
        let mut tx = SqliteTx { store: self, conn, open: false, relaxed: true };
        tx.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        tx.open = true;
        Ok(tx)
    }
}

/// Inserts an entry row unless the bank holds its signal already (`?18` is the new id).
const INSERT_ENTRY: &str = "INSERT INTO entries (bank_id, signal_type, value, category, severity,
         tags, source_org, source_id, added_by, added_at, verified_by, verified_at, enabled,
         disabled_by, disabled_at, disabled_reason, seq, id, added_seq)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
             ?17)
     ON CONFLICT (bank_id, signal_type, value) DO NOTHING";

/// Appends one change record.
const INSERT_CHANGE: &str = "INSERT INTO changes (seq, at, actor, action, bank_id, bank_name,
         entry_id, signal_type, value, enabled, category, severity, reason)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// Runs [`INSERT_ENTRY`] for one entry with id `id`; true when the row was inserted.
fn insert_entry_row(
    stmt: &mut rusqlite::Statement<'_>,
    bank: &Bank,
    e: &NewEntry,
    id: i64,
    actor: &str,
    now: Millis,
    seq: i64,
) -> rusqlite::Result<bool> {
    let tags = (!e.tags.is_empty()).then(|| e.tags.join(" "));
    let n = stmt.execute(params![
        bank.id,
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
        id,
    ])?;
    Ok(n == 1)
}

/// Runs [`INSERT_CHANGE`] for one record.
fn insert_change_row(stmt: &mut rusqlite::Statement<'_>, c: &Record<'_>) -> rusqlite::Result<()> {
    let e = c.entry.as_ref();
    stmt.execute(params![
        c.seq,
        c.at,
        c.actor,
        c.action.name(),
        c.bank_id,
        c.bank,
        e.map(|e| e.id),
        e.map(|e| e.signal_type.name()),
        e.map(|e| e.value),
        e.map(|e| e.enabled),
        e.and_then(|e| e.category).map(|c| c.name()),
        e.and_then(|e| e.severity).map(|s| s.name()),
        c.reason,
    ])?;
    Ok(())
}

impl WriteTx for SqliteTx<'_> {
    fn next_seq(&mut self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM changes", [], |r| r.get(0))
            .map_err(|e| self.store.err(e))
    }

    fn bank(&mut self, name: &str) -> Result<Option<Bank>> {
        SqliteStore::bank_row(&self.conn, name).map_err(|e| self.store.err(e))
    }

    fn insert_bank(
        &mut self,
        bank: &NewBank,
        radius: u32,
        auto_confirm: Option<u32>,
        now: Millis,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO banks (name, description, owner, created_at, review_required,
                     pdq_radius, auto_confirm_distance, four_eyes, review_queue, hma_enabled_ratio)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    bank.name,
                    bank.description,
                    bank.owner,
                    now,
                    bank.review_required,
                    radius,
                    auto_confirm,
                    bank.four_eyes,
                    bank.review_queue.as_deref().unwrap_or(crate::cases::MAIN_QUEUE),
                    bank.hma_enabled_ratio.unwrap_or(1.0)
                ],
            )
            .map_err(|e| self.store.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    fn save_bank(&mut self, b: &Bank) -> Result<()> {
        self.conn
            .execute(
                "UPDATE banks SET enabled = ?1, description = ?2, owner = ?3,
                     review_required = ?4, pdq_radius = ?5, auto_confirm_distance = ?6,
                     four_eyes = ?7, review_queue = ?8, hma_enabled_ratio = ?10
                 WHERE id = ?9",
                params![
                    b.enabled,
                    b.description,
                    b.owner,
                    b.review_required,
                    b.pdq_radius,
                    b.auto_confirm_distance,
                    b.four_eyes,
                    b.review_queue,
                    b.id,
                    b.hma_enabled_ratio
                ],
            )
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    fn entry(&mut self, bank: &Bank, id: i64) -> Result<Option<Entry>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                 WHERE e.id = ?1 AND e.bank_id = ?2"
            ))
            .and_then(|mut s| s.query_row(params![id, bank.id], entry_from_row).optional())
            .map_err(|e| self.store.err(e))
    }

    fn save_entry(&mut self, e: &Entry) -> Result<()> {
        let d = e.disabled.as_ref();
        self.conn
            .execute(
                "UPDATE entries SET category = ?1, severity = ?2, tags = ?3, source_org = ?4,
                     source_id = ?5, verified_by = ?6, verified_at = ?7, enabled = ?8,
                     disabled_by = ?9, disabled_at = ?10, disabled_reason = ?11, seq = ?12
                 WHERE id = ?13",
                params![
                    e.category.map(|c| c.name()),
                    e.severity.map(|s| s.name()),
                    (!e.tags.is_empty()).then(|| e.tags.join(" ")),
                    e.source_org,
                    e.source_id,
                    e.verified_by,
                    e.verified_at,
                    e.enabled,
                    d.map(|d| d.by.as_str()),
                    d.map(|d| d.at),
                    d.map(|d| d.reason.as_str()),
                    e.seq,
                    e.id
                ],
            )
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    fn delete_entry(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM entries WHERE id = ?1", [id])
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    fn insert_change(&mut self, c: &Record<'_>) -> Result<()> {
        self.conn
            .prepare_cached(INSERT_CHANGE)
            .and_then(|mut s| insert_change_row(&mut s, c))
            .map_err(|e| self.store.err(e))
    }

    fn insert_entries(
        &mut self,
        bank: &Bank,
        entries: &[NewEntry],
        actor: &str,
        now: Millis,
        present_ids: bool,
    ) -> Result<Vec<Added>> {
        let mut seq = self.next_seq()?;
        // New entries take the ids after the last one ever handed out (`spoor_ids`), which moves
        // up once per batch; a signal the bank holds takes none.
        let last: i64 = self
            .conn
            .query_row("SELECT last FROM spoor_ids WHERE name = 'entries'", [], |r| r.get(0))
            .map_err(|e| self.store.err(e))?;
        let mut id = last;
        let mut out = Vec::with_capacity(entries.len());
        // The statements are looked up once per batch, not once per row: a lookup in the
        // statement cache hashes the SQL text and hands the statement back afterwards.
        let conn = &*self.conn;
        (|| {
            let mut insert_entry = conn.prepare_cached(INSERT_ENTRY)?;
            let mut insert_change = conn.prepare_cached(INSERT_CHANGE)?;
            for e in entries {
                if insert_entry_row(&mut insert_entry, bank, e, id + 1, actor, now, seq)? {
                    id += 1;
                    let record = Record {
                        seq,
                        at: now,
                        actor,
                        action: Action::Add,
                        bank_id: bank.id,
                        bank: &bank.name,
                        entry: Some(EntryState::added(id, e)),
                        reason: None,
                    };
                    insert_change_row(&mut insert_change, &record)?;
                    seq += 1;
                    out.push(Added::New(id));
                } else if present_ids {
                    let present = conn
                        .prepare_cached(
                            "SELECT id FROM entries
                             WHERE bank_id = ?1 AND signal_type = ?2 AND value = ?3",
                        )?
                        .query_row(params![bank.id, e.signal_type.name(), e.value], |r| r.get(0))?;
                    out.push(Added::Present(present));
                } else {
                    out.push(Added::Present(0));
                }
            }
            Ok(())
        })()
        .map_err(|e: rusqlite::Error| self.store.err(e))?;
        if id > last {
            self.conn
                .execute("UPDATE spoor_ids SET last = ?1 WHERE name = 'entries'", [id])
                .map_err(|e| self.store.err(e))?;
        }
        Ok(out)
    }

    fn audit_head(&mut self) -> Result<Option<(i64, spoor_audit::Digest)>> {
        // The writer connection holds SQLite's write lock already.
        audit_head_in(self.store, &self.conn)
    }

    fn insert_audit(&mut self, r: &spoor_audit::Record) -> Result<()> {
        insert_audit_in(self.store, &self.conn, r)
    }

    fn audit_hash_at(&mut self, seq: i64) -> Result<Option<spoor_audit::Digest>> {
        let hash: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
            .optional()
            .map_err(|e| self.store.err(e))?;
        hash.map(|h| crate::audit::digest(&h)).transpose()
    }

    fn insert_checkpoint(&mut self, c: &spoor_audit::Checkpoint) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO audit_checkpoints (seq, hash, at, public_key, signature)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.seq, &c.hash[..], c.at, &c.public_key[..], &c.signature[..]],
            )
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()> {
        let exists: bool = self
            .conn
            .query_row("SELECT COUNT(*) > 0 FROM api_keys WHERE name = ?1", [&key.name], |r| {
                r.get(0)
            })
            .map_err(|e| self.store.err(e))?;
        if exists {
            return Err(BankError::KeyExists(key.name.clone()));
        }
        self.conn
            .execute(
                "INSERT INTO api_keys (key_id, name, role, banks, secret_hash, created_by,
                                       created_at, show_distance)
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
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    fn revoke_key(&mut self, name: &str, actor: &str, now: Millis) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE api_keys SET revoked_by = ?1, revoked_at = ?2
                 WHERE name = ?3 AND revoked_at IS NULL",
                params![actor, now, name],
            )
            .map_err(|e| self.store.err(e))?;
        if n > 0 {
            return Ok(true);
        }
        let exists: bool = self
            .conn
            .query_row("SELECT COUNT(*) > 0 FROM api_keys WHERE name = ?1", [name], |r| r.get(0))
            .map_err(|e| self.store.err(e))?;
        if exists {
            Ok(false)
        } else {
            Err(BankError::NoSuchKey(name.to_string()))
        }
    }

    fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(|e| self.store.err(e))?;
        self.open = false;
        Ok(())
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
        write::create_bank(self, bank, actor)
    }

    fn banks(&self) -> Result<Vec<Bank>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {BANK_COLUMNS} FROM banks ORDER BY name"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], bank_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn bank(&self, name: &str) -> Result<Bank> {
        self.bank_in(&*self.read()?, name)
    }

    fn set_bank_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Bank> {
        write::set_bank_enabled(self, name, enabled, actor, reason)
    }

    fn configure_bank(
        &self,
        name: &str,
        settings: &BankSettings,
        actor: &str,
        reason: &str,
    ) -> Result<Bank> {
        write::configure_bank(self, name, settings, actor, reason)
    }

    fn stats(&self, name: &str) -> Result<BankStats> {
        let conn = self.read()?;
        // One read transaction: the counts and the sequence number agree.
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = (|| {
            let bank = self.bank_in(&conn, name)?;
            let mut stats = BankStats { bank: bank.name.clone(), ..Default::default() };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT signal_type, COALESCE(category, 'none'), enabled, COUNT(*)
                     FROM entries WHERE bank_id = ?1 GROUP BY 1, 2, 3",
                )
                .map_err(|e| self.err(e))?;
            let mut rows = stmt.query([bank.id]).map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let (t, c, enabled, n): (String, String, bool, i64) = (
                    r.get(0).map_err(|e| self.err(e))?,
                    r.get(1).map_err(|e| self.err(e))?,
                    r.get(2).map_err(|e| self.err(e))?,
                    r.get(3).map_err(|e| self.err(e))?,
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
        })();
        let _ = conn.execute_batch("COMMIT");
        result
    }

    fn add_entries(&self, bank: &str, entries: &[NewEntry], actor: &str) -> Result<Vec<Added>> {
        write::add_entries(self, bank, entries, actor)
    }

    fn import_session(
        &self,
        bank: &str,
        actor: &str,
        one_transaction: bool,
    ) -> Result<Box<dyn ImportSession + '_>> {
        write::import_session(self, bank, actor, one_transaction)
    }

    fn entry(&self, bank: &str, id: i64) -> Result<Entry> {
        let conn = self.read()?;
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
        let conn = self.read()?;
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

    fn entries_page(
        &self,
        bank: &str,
        filter: &crate::browse::EntryFilter,
        after_id: i64,
        limit: usize,
        max_scan: usize,
    ) -> Result<crate::browse::EntryPage> {
        crate::browse::check_page(limit, max_scan)?;
        let conn = self.read()?;
        let b = self.bank_in(&conn, bank)?;
        let (conds, texts) =
            filter.conditions(2, |n| format!("?{n}"), "e.enabled = 0", "e.enabled = 1");
        let mut values: Vec<rusqlite::types::Value> = vec![b.id.into(), after_id.into()];
        values.extend(texts.into_iter().map(rusqlite::types::Value::from));
        // Without a filter every entry passes: no window. Disabled entries have an index of
        // their own; anything else scans a bounded window of ids, so a rare filter costs at
        // most `max_scan` rows a page.
        let (sql, window_end) = if filter.is_empty() || filter.enabled == Some(false) {
            // Named, because the planner (without statistics) would walk every entry of the
            // bank by id and test each for being disabled: 100 ms a page at 10M.
            let index = if filter.enabled == Some(false) {
                "INDEXED BY entries_disabled"
            } else {
                "INDEXED BY entries_by_bank"
            };
            (
                format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e {index} JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = ?1 AND e.id > ?2{conds} ORDER BY e.id LIMIT {limit}"
                ),
                None,
            )
        } else {
            let end: Option<i64> = conn
                .query_row(
                    &format!(
                        "SELECT MAX(id) FROM (SELECT id FROM entries WHERE bank_id = ?1 AND id > ?2
                         ORDER BY id LIMIT {max_scan})"
                    ),
                    params![b.id, after_id],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            let Some(end) = end else {
                return Ok(crate::browse::EntryPage { entries: Vec::new(), next_after: None });
            };
            values.push(end.into());
            let n = values.len();
            (
                format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = ?1 AND e.id > ?2 AND e.id <= ?{n}{conds}
                     ORDER BY e.id LIMIT {limit}"
                ),
                Some(end),
            )
        };
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let entries: Vec<Entry> = stmt
            .query_map(rusqlite::params_from_iter(values), entry_from_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        let next_after = crate::browse::next_after(&entries, limit, window_end, || {
            conn.query_row("SELECT MAX(id) FROM entries WHERE bank_id = ?1", [b.id], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(|e| self.err(e))
        })?;
        Ok(crate::browse::EntryPage { entries, next_after })
    }

    fn count_disabled(&self, bank: &str) -> Result<u64> {
        let conn = self.read()?;
        let b = self.bank_in(&conn, bank)?;
        let n: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM entries INDEXED BY entries_disabled
                 WHERE bank_id = ?1 AND enabled = 0",
            )
            .and_then(|mut s| s.query_row([b.id], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    fn entry_by_value(
        &self,
        bank: &str,
        signal_type: SignalType,
        value: &[u8],
    ) -> Result<Option<Entry>> {
        let conn = self.read()?;
        let b = self.bank_in(&conn, bank)?;
        conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
             WHERE e.bank_id = ?1 AND e.signal_type = ?2 AND e.value = ?3"
        ))
        .and_then(|mut s| {
            s.query_row(params![b.id, signal_type.name(), value], entry_from_row).optional()
        })
        .map_err(|e| self.err(e))
    }

    fn entry_history(&self, bank: &str, id: i64, limit: usize) -> Result<Vec<Change>> {
        let conn = self.read()?;
        let b = self.bank_in(&conn, bank)?;
        // The add record by the number the entry keeps; a deleted entry's by a scan (rare: the
        // console lists live entries).
        let added: Option<i64> = conn
            .query_row(
                "SELECT added_seq FROM entries WHERE id = ?1 AND bank_id = ?2",
                params![id, b.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        let add_sql = match added {
            Some(_) => "SELECT {C} FROM changes WHERE seq = ?3 AND entry_id = ?1 AND bank_id = ?2",
            None => {
                "SELECT {C} FROM changes WHERE entry_id = ?1 AND bank_id = ?2
                     AND action = 'add' AND ?3 IS NULL"
            }
        }
        .replace("{C}", CHANGE_COLUMNS);
        let sql = format!(
            "SELECT * FROM ({add_sql}) UNION ALL SELECT * FROM (SELECT {CHANGE_COLUMNS} FROM changes
             WHERE entry_id = ?1 AND bank_id = ?2 AND action <> 'add'
             AND (?3 IS NULL OR seq > ?3) ORDER BY seq LIMIT ?4)
             ORDER BY 1 LIMIT ?4"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![id, b.id, added, limit as i64], change_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn patch_entry(
        &self,
        bank: &str,
        id: i64,
        enabled: Option<bool>,
        update: &EntryUpdate,
        actor: &str,
        reason: &str,
    ) -> Result<(Entry, Vec<Change>)> {
        write::patch_entry(self, bank, id, enabled, update, actor, reason)
    }

    fn delete_entry(&self, bank: &str, id: i64, actor: &str, reason: &str) -> Result<Change> {
        write::delete_entry(self, bank, id, actor, reason)
    }

    fn export(
        &self,
        bank: &str,
        since: Option<i64>,
        sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
    ) -> Result<u64> {
        let conn = self.read()?;
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
        let conn = self.read()?;
        let bank_id = match bank {
            Some(name) => Some(self.bank_in(&conn, name)?.id),
            None => None,
        };
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {CHANGE_COLUMNS} FROM changes
                 WHERE seq > ?1 AND (?2 IS NULL OR bank_id = ?2) ORDER BY seq LIMIT ?3"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since, bank_id, limit as i64], change_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn deltas(&self, since: i64, limit: usize) -> Result<Vec<Delta>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {CHANGE_COLUMNS} FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since, limit as i64], delta_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn schedule_enable(&self, bank: &str, id: i64, until: Millis, seq: i64) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO timed_disables (entry_id, bank, until_ms, seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (entry_id) DO UPDATE SET bank = ?2, until_ms = ?3, seq = ?4",
                rusqlite::params![id, bank, until, seq],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn scheduled_enable(&self, id: i64) -> Result<Option<Millis>> {
        use rusqlite::OptionalExtension as _;
        self.read()?
            .query_row("SELECT until_ms FROM timed_disables WHERE entry_id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    fn due_enables(&self, now: Millis, limit: usize) -> Result<Vec<crate::TimedDisable>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT bank, entry_id, until_ms, seq FROM timed_disables
                 WHERE until_ms <= ?1 ORDER BY until_ms, entry_id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params![now, limit as i64], |r| {
                Ok(crate::TimedDisable {
                    bank: r.get(0)?,
                    entry_id: r.get(1)?,
                    until: r.get(2)?,
                    seq: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn clear_enable(&self, id: i64) -> Result<()> {
        self.lock()
            .execute("DELETE FROM timed_disables WHERE entry_id = ?1", [id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn last_seq(&self) -> Result<i64> {
        self.read()?
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn signals(&self, after_id: i64, limit: usize) -> Result<Vec<SignalRow>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, bank_id, signal_type, value, enabled, category FROM entries
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after_id, limit as i64], |r| {
                Ok(SignalRow {
                    id: r.get(0)?,
                    bank_id: r.get(1)?,
                    signal_type: parse_col(r, 2)?
                        .ok_or_else(|| conversion(2, "no signal type".into()))?,
                    value: r.get(3)?,
                    enabled: r.get(4)?,
                    category: parse_col(r, 5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn create_key(&self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()> {
        write::create_key(self, key, secret_hash)
    }

    fn keys(&self) -> Result<Vec<(ApiKey, Vec<u8>)>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT key_id, name, role, banks, created_by, created_at, revoked_by, revoked_at,
                        secret_hash, show_distance FROM api_keys ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let banks: Option<String> = r.get(3)?;
                Ok((
                    ApiKey {
                        key_id: r.get(0)?,
                        name: r.get(1)?,
                        role: parse_col(r, 2)?.ok_or_else(|| conversion(2, "no role".into()))?,
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
        write::revoke_key(self, name, actor)?;
        self.keys()?
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.name == name)
            .ok_or_else(|| BankError::NoSuchKey(name.to_string()))
    }
}

impl crate::audit::AuditLog for SqliteStore {
    fn audit_append(&self, record: &spoor_audit::NewRecord) -> Result<spoor_audit::Record> {
        write::audit_append(self, record)
    }

    fn audit_append_relaxed(&self, record: &spoor_audit::NewRecord) -> Result<spoor_audit::Record> {
        write::audit_append_relaxed(self, record)
    }

    fn audit_append_all(
        &self,
        records: &[spoor_audit::NewRecord],
    ) -> Result<Vec<spoor_audit::Record>> {
        write::audit_append_all(self, records)
    }

    fn audit_head(&self) -> Result<Option<(i64, spoor_audit::Digest)>> {
        let conn = self.read()?;
        let row: Option<(i64, Vec<u8>)> = conn
            .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(seq, hash)| Ok((seq, crate::audit::digest(&hash)?))).transpose()
    }

    fn audit_records(&self, q: &crate::audit::AuditQuery) -> Result<Vec<spoor_audit::Record>> {
        use crate::audit::{Param, AUDIT_COLUMNS};
        q.check()?;
        let (cond, params) = q.where_clause(|n| format!("?{n}"));
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE {cond} ORDER BY {} LIMIT {}",
            q.order(),
            q.limit
        );
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let values: Vec<rusqlite::types::Value> = params
            .into_iter()
            .map(|p| match p {
                Param::Int(i) => rusqlite::types::Value::Integer(i),
                Param::Text(t) => rusqlite::types::Value::Text(t),
            })
            .collect();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok((
                    spoor_audit::Record {
                        seq: r.get(0)?,
                        at: r.get(1)?,
                        actor_kind: r.get(2)?,
                        actor: r.get(3)?,
                        action: r.get(4)?,
                        object_kind: r.get(5)?,
                        object_id: r.get(6)?,
                        details: r.get(7)?,
                        prev_hash: [0; 32],
                        hash: [0; 32],
                    },
                    r.get::<_, Vec<u8>>(8)?,
                    r.get::<_, Vec<u8>>(9)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (mut record, prev, hash) = row.map_err(|e| self.err(e))?;
            record.prev_hash = crate::audit::digest(&prev)?;
            record.hash = crate::audit::digest(&hash)?;
            out.push(record);
        }
        Ok(out)
    }

    fn audit_add_checkpoint(
        &self,
        checkpoint: &spoor_audit::Checkpoint,
        actor: &str,
    ) -> Result<spoor_audit::Record> {
        crate::audit::add_checkpoint(self, checkpoint, actor)
    }

    fn audit_checkpoints(&self) -> Result<Vec<spoor_audit::Checkpoint>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, hash, at, public_key, signature FROM audit_checkpoints ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, hash, at, public_key, signature) = row.map_err(|e| self.err(e))?;
            out.push(crate::audit::checkpoint_from_parts(seq, &hash, at, &public_key, &signature)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditLog as _;

    fn synchronous(store: &SqliteStore) -> i64 {
        store.lock().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
    }

    /// A relaxed audit append leaves the writer connection flushing fully again, whether it
    /// commits or fails.
    #[test]
    fn relaxed_appends_restore_full_flushing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        const FULL: i64 = 2;
        assert_eq!(synchronous(&store), FULL);
        let ok = spoor_audit::NewRecord::new(spoor_audit::ActorKind::User, "a", "x", "y", "z");
        store.audit_append_relaxed(&ok).unwrap();
        assert_eq!(synchronous(&store), FULL);
        let bad = spoor_audit::NewRecord { action: "X Y".into(), ..ok.clone() };
        assert!(store.audit_append_relaxed(&bad).is_err());
        assert_eq!(synchronous(&store), FULL);
        // A failure inside the transaction (a clashing number) rolls back and restores too.
        let mut tx = store.begin_write_relaxed().unwrap();
        assert_eq!(tx.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
        drop(tx.insert_audit(&spoor_audit::Record::seal(None, 0, &ok).unwrap()).unwrap_err());
        drop(tx);
        assert_eq!(synchronous(&store), FULL);
        assert_eq!(store.audit_head().unwrap().unwrap().0, 1);
    }
}
