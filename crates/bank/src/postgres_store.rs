//! The PostgreSQL store, for many replicas over one database and for lists too large to keep in
//! one file.
//!
//! Every writing transaction first takes one transaction-scoped advisory lock, then numbers its
//! changes from the newest sequence number. Writers therefore commit in sequence order, and a
//! follower reading "changes after N" never misses a change that was committed late with a smaller
//! number. Bulk imports go through `COPY` into a temporary table and one `INSERT … SELECT`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::DerefMut;

use postgres::{Client, Row};
use spoor_core::SignalType;

use crate::model::{Millis, Record};
use crate::pg_conn::{ConnectTarget, PgGuard, PgOptions, PgPool};
use crate::write::{self, Backend, WriteTx};
use crate::{
    Action, Added, ApiKey, Bank, BankError, BankSettings, BankStats, Change, Delta, Disabled,
    Entry, EntryUpdate, ImportSession, NewBank, NewEntry, Result, SignalRow, Store,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_banks.sql"),
    include_str!("../migrations/postgres/0002_keys.sql"),
    include_str!("../migrations/postgres/0003_key_distances.sql"),
    include_str!("../migrations/postgres/0004_change_log.sql"),
    include_str!("../migrations/postgres/0005_people_and_audit.sql"),
    include_str!("../migrations/postgres/0006_entry_browsing.sql"),
    include_str!("../migrations/postgres/0007_entries_by_bank.sql"),
    include_str!("../migrations/postgres/0008_cases.sql"),
    include_str!("../migrations/postgres/0009_outbox.sql"),
    include_str!("../migrations/postgres/0010_review_queues.sql"),
    include_str!("../migrations/postgres/0011_review_views.sql"),
    include_str!("../migrations/postgres/0012_following.sql"),
    include_str!("../migrations/postgres/0013_claim_function.sql"),
    include_str!("../migrations/postgres/0014_reports.sql"),
    include_str!("../migrations/postgres/0015_complaints.sql"),
    include_str!("../migrations/postgres/0016_retention.sql"),
    include_str!("../migrations/postgres/0017_usage.sql"),
    include_str!("../migrations/postgres/0018_case_technologies.sql"),
    include_str!("../migrations/postgres/0019_timed_disables.sql"),
    include_str!("../migrations/postgres/0020_exchange_positions.sql"),
    include_str!("../migrations/postgres/0021_exchanges.sql"),
    include_str!("../migrations/postgres/0022_hma_enabled_ratio.sql"),
];

/// Key of the advisory lock every writer holds for the length of its transaction.
const WRITE_LOCK: i64 = 0x5370_6f6f_7201;
/// The advisory lock that serializes appends to the audit log. Bank writers take it after
/// [`WRITE_LOCK`]; audit-only writers take it alone.
const AUDIT_LOCK: i64 = 0x5370_6f6f_7202;

/// The PostgreSQL store: a small pool of connections (see [`PgOptions`]) that replaces broken
/// connections by itself, so the store keeps working across restarts of the server.
pub struct PostgresStore {
    url_for_messages: String,
    pool: PgPool,
    /// Entries added through this store since it last analysed them.
    grown: std::sync::atomic::AtomicU64,
    /// Entries known to exist when it last analysed them (what this store has seen).
    analysed: std::sync::atomic::AtomicU64,
}

const ENTRY_COLUMNS: &str =
    "e.id, b.name, e.signal_type, e.value, e.category, e.severity, e.tags, \
     e.source_org, e.source_id, e.added_by, e.added_at, e.verified_by, e.verified_at, e.enabled, \
     e.disabled_by, e.disabled_at, e.disabled_reason, e.seq";

const BANK_COLUMNS: &str =
    "id, name, description, owner, created_at, enabled, review_required, pdq_radius, \
     auto_confirm_distance, four_eyes, review_queue, hma_enabled_ratio";

const STAGE_COLUMNS: &str = "ord, signal_type, value, category, severity, tags, source_org, \
     source_id, added_by, added_at, verified_by, verified_at, enabled, disabled_by, disabled_at, \
     disabled_reason";

impl PostgresStore {
    /// Connects to `url` with the default [`PgOptions`] and brings the schema up to date.
    ///
    /// `url` is `postgres://user:password@host:port/database[?sslmode=…&sslrootcert=PATH]` or
    /// libpq's `key=value` form; `sslmode` is one of `disable`, `prefer` (the default),
    /// `require`, `verify-ca`, `verify-full`, as in libpq.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &PgOptions::default())
    }

    /// Connects to `url` with these pool settings and brings the schema up to date. The first
    /// connection is opened here, so a wrong URL, password or CA file, or a server that is down,
    /// is reported at once.
    pub fn connect_with(url: &str, options: &PgOptions) -> Result<Self> {
        let target = ConnectTarget::parse(url, options)?;
        let url_for_messages = target.redacted().to_string();
        let store = PostgresStore {
            url_for_messages,
            pool: PgPool::open(target, options)?,
            grown: Default::default(),
            analysed: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// A connection from the pool: [`BankError::Unreachable`] when none can be had within the
    /// checkout timeout (the server is down or unreachable).
    pub(crate) fn lock(&self) -> Result<PgGuard<'_>> {
        self.pool.get()
    }

    fn migrate(&self) -> Result<()> {
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        // Serializes concurrent first starts of several replicas.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS spoor_schema (version BIGINT NOT NULL)")?;
        let version: i64 =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM spoor_schema", &[])?.get(0);
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(BankError::SchemaTooNew { found: version, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO spoor_schema (version) VALUES ($1)", &[&(i as i64 + 1)])?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn bank_from_row(r: &Row) -> Bank {
    Bank {
        id: r.get(0),
        name: r.get(1),
        description: r.get(2),
        owner: r.get(3),
        created_at: r.get(4),
        enabled: r.get(5),
        review_required: r.get(6),
        pdq_radius: r.get::<_, i32>(7) as u32,
        auto_confirm_distance: r.get::<_, Option<i32>>(8).map(|d| d as u32),
        four_eyes: r.get(9),
        review_queue: r.get(10),
        hma_enabled_ratio: r.get(11),
    }
}

fn bank_in(tx: &mut impl postgres::GenericClient, name: &str) -> Result<Bank> {
    tx.query_opt(&format!("SELECT {BANK_COLUMNS} FROM banks WHERE name = $1"), &[&name])?
        .map(|r| bank_from_row(&r))
        .ok_or_else(|| BankError::NoSuchBank(name.to_string()))
}

fn corrupt(what: String) -> BankError {
    BankError::Invalid(format!("the database holds an invalid value: {what}"))
}

fn entry_from_row(r: &Row) -> Result<Entry> {
    let signal_type: String = r.get(2);
    let signal_type: SignalType = signal_type.parse().map_err(|e| corrupt(format!("{e}")))?;
    let category: Option<String> = r.get(4);
    let severity: Option<String> = r.get(5);
    let tags: Option<String> = r.get(6);
    let enabled: bool = r.get(13);
    let disabled = match (r.get::<_, Option<String>>(14), r.get::<_, Option<Millis>>(15)) {
        (Some(by), Some(at)) if !enabled => {
            Some(Disabled { by, at, reason: r.get::<_, Option<String>>(16).unwrap_or_default() })
        }
        _ => None,
    };
    Ok(Entry {
        id: r.get(0),
        bank: r.get(1),
        signal_type,
        value: r.get(3),
        category: category.map(|c| c.parse()).transpose().map_err(corrupt)?,
        severity: severity.map(|c| c.parse()).transpose().map_err(corrupt)?,
        tags: tags.map(|t| t.split(' ').map(str::to_string).collect()).unwrap_or_default(),
        source_org: r.get(7),
        source_id: r.get(8),
        added_by: r.get(9),
        added_at: r.get(10),
        verified_by: r.get(11),
        verified_at: r.get(12),
        enabled,
        disabled,
        seq: r.get(17),
    })
}

/// Appends one field of COPY's text format.
fn copy_text(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn copy_row(out: &mut String, ord: usize, e: &NewEntry, actor: &str, now: Millis) {
    let _ = write!(out, "{ord}\t{}\t\\\\x", e.signal_type.name());
    for b in &e.value {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\t');
    copy_text(out, e.category.map(|c| c.name()));
    out.push('\t');
    copy_text(out, e.severity.map(|c| c.name()));
    out.push('\t');
    copy_text(out, (!e.tags.is_empty()).then(|| e.tags.join(" ")).as_deref());
    out.push('\t');
    copy_text(out, e.source_org.as_deref());
    out.push('\t');
    copy_text(out, e.source_id.as_deref());
    out.push('\t');
    copy_text(out, Some(e.added_by.as_deref().unwrap_or(actor)));
    let _ = write!(out, "\t{}\t", e.added_at.unwrap_or(now));
    copy_text(out, e.verified_by.as_deref());
    out.push('\t');
    match e.verified_at {
        Some(t) => {
            let _ = write!(out, "{t}");
        }
        None => out.push_str("\\N"),
    }
    out.push_str(if e.enabled { "\tt\t" } else { "\tf\t" });
    copy_text(out, e.disabled.as_ref().map(|d| d.by.as_str()));
    out.push('\t');
    match &e.disabled {
        Some(d) => {
            let _ = write!(out, "{}", d.at);
        }
        None => out.push_str("\\N"),
    }
    out.push('\t');
    copy_text(out, e.disabled.as_ref().map(|d| d.reason.as_str()));
    out.push('\n');
}

fn copy_error(e: std::io::Error) -> BankError {
    BankError::Io { context: "PostgreSQL COPY failed".into(), source: e }
}

fn parse_opt<T: std::str::FromStr>(v: Option<String>) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    v.map(|s| s.parse::<T>()).transpose().map_err(|e| corrupt(e.to_string()))
}

/// Columns of a change record, as [`change_from_row`] and [`delta_from_row`] read them.
const CHANGE_COLUMNS: &str = "seq, at, actor, action, COALESCE(bank_name, ''), entry_id, \
     signal_type, value, enabled, category, severity, reason, bank_id";

fn change_from_row(r: &Row) -> Result<Change> {
    let signal_type: Option<SignalType> = parse_opt(r.get(6))?;
    let value: Option<Vec<u8>> = r.get(7);
    Ok(Change {
        seq: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get::<_, String>(3).parse().map_err(corrupt)?,
        bank: r.get(4),
        entry_id: r.get(5),
        signal_type,
        value: signal_type.zip(value).map(|(t, v)| t.format(&v)),
        enabled: r.get(8),
        category: parse_opt(r.get(9))?,
        severity: parse_opt(r.get(10))?,
        reason: r.get(11),
    })
}

fn delta_from_row(r: &Row) -> Result<Delta> {
    let action: Action = r.get::<_, String>(3).parse().map_err(corrupt)?;
    let signal_type: Option<SignalType> = parse_opt(r.get(6))?;
    Ok(Delta {
        seq: r.get(0),
        action,
        bank_id: r.get(12),
        entry_id: r.get(5),
        signal: signal_type.zip(r.get::<_, Option<Vec<u8>>>(7)),
        enabled: action != Action::Delete && r.get::<_, Option<bool>>(8).unwrap_or(false),
        category: parse_opt(r.get(9))?,
    })
}

/// A writing transaction: `BEGIN` on the store's connection, then, before the first statement
/// that reads or numbers anything, the advisory writer lock (held until commit or rollback).
/// Staging a bulk import's rows (`COPY` into a temporary table) happens before taking it, so
/// concurrent imports overlap their uploads.
pub(crate) struct PgTx<'a> {
    client: Box<dyn DerefMut<Target = Client> + 'a>,
    open: bool,
    locked: bool,
    audit_locked: bool,
}

/// The newest audit record's number and hash, inside a transaction; with `lock`, taking the
/// audit lock first (held to the transaction's end: appends are one at a time).
pub(crate) fn audit_head_in(
    client: &mut impl postgres::GenericClient,
    lock: bool,
) -> Result<Option<(i64, spoor_audit::Digest)>> {
    if lock {
        client.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])?;
    }
    client
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
        .map(|r| Ok((r.get(0), crate::audit::digest(r.get::<_, &[u8]>(1))?)))
        .transpose()
}

/// Inserts a sealed audit record inside a transaction holding the audit lock.
pub(crate) fn insert_audit_in(
    client: &mut impl postgres::GenericClient,
    r: &spoor_audit::Record,
) -> Result<()> {
    client.execute(
        "INSERT INTO audit (seq, at, actor_kind, actor, action, object_kind, object_id,
             details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &r.seq,
            &r.at,
            &r.actor_kind,
            &r.actor,
            &r.action,
            &r.object_kind,
            &r.object_id,
            &r.details,
            &&r.prev_hash[..],
            &&r.hash[..],
        ],
    )?;
    Ok(())
}

/// The audit head from its text form (`seq`, hash in hex), as a simple query returns it.
fn parse_head(seq: &str, hash_hex: &str) -> Result<(i64, spoor_audit::Digest)> {
    let bad = || BankError::Invalid(format!("the database holds an unreadable audit head ({seq})"));
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    if hash_hex.len() != 64 || !hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hash_hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok((seq, hash))
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

impl Backend for PostgresStore {
    type Tx<'a> = PgTx<'a>;

    fn begin_write(&self) -> Result<PgTx<'_>> {
        let mut client: Box<dyn DerefMut<Target = Client> + '_> = Box::new(self.lock()?);
        client.batch_execute("BEGIN")?;
        Ok(PgTx { client, open: true, locked: false, audit_locked: false })
    }

    fn after_bulk_load(&self, added: u64) {
        // Autovacuum would analyse the table within a minute or so; until then the planner
        // believes the bank small and sorts where it should walk an index (55 ms instead of
        // 1 ms for a page window at 300k entries), and a stream of batches into a new bank
        // (an exchange filling it) gets slower batch after batch (3 s, 6 s, 9 s … per 10,000
        // at 20k, 30k, 40k entries). So the entries are analysed again once they have grown by
        // 5,000 and by half since this store last did: a handful of times per million (the
        // plans need the size's order, not the count). A failure here only leaves the
        // statistics as they were.
        use std::sync::atomic::Ordering::Relaxed;
        let grown = self.grown.fetch_add(added, Relaxed) + added;
        let analysed = self.analysed.load(Relaxed);
        if grown >= (analysed / 2).max(5_000)
            && self.grown.compare_exchange(grown, 0, Relaxed, Relaxed).is_ok()
        {
            self.analysed.fetch_add(grown, Relaxed);
            if let Ok(mut client) = self.lock() {
                let _ = client.batch_execute("ANALYZE entries");
            }
        }
    }

    fn begin_write_relaxed(&self) -> Result<PgTx<'_>> {
        let client: Box<dyn DerefMut<Target = Client> + '_> = Box::new(self.lock()?);
        // Open before the first statement, so that a failure rolls back when it is dropped.
        let mut tx = PgTx { client, open: true, locked: false, audit_locked: false };
        // One round trip for both.
        tx.client.batch_execute("BEGIN; SET LOCAL synchronous_commit TO OFF")?;
        Ok(tx)
    }
}

impl PgTx<'_> {
    /// The client, with the writer lock taken.
    fn locked(&mut self) -> Result<&mut Client> {
        if !self.locked {
            self.client.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
            self.locked = true;
        }
        Ok(&mut **self.client)
    }
}

impl WriteTx for PgTx<'_> {
    fn next_seq(&mut self) -> Result<i64> {
        Ok(self.locked()?.query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM changes", &[])?.get(0))
    }

    fn bank(&mut self, name: &str) -> Result<Option<Bank>> {
        Ok(self
            .locked()?
            .query_opt(&format!("SELECT {BANK_COLUMNS} FROM banks WHERE name = $1"), &[&name])?
            .map(|r| bank_from_row(&r)))
    }

    fn insert_bank(
        &mut self,
        bank: &NewBank,
        radius: u32,
        auto_confirm: Option<u32>,
        now: Millis,
    ) -> Result<i64> {
        Ok(self
            .locked()?
            .query_one(
                "INSERT INTO banks (name, description, owner, created_at, review_required,
                     pdq_radius, auto_confirm_distance, four_eyes, review_queue, hma_enabled_ratio)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &bank.name,
                    &bank.description,
                    &bank.owner,
                    &now,
                    &bank.review_required,
                    &(radius as i32),
                    &auto_confirm.map(|d| d as i32),
                    &bank.four_eyes,
                    &bank.review_queue.as_deref().unwrap_or(crate::cases::MAIN_QUEUE),
                    &bank.hma_enabled_ratio.unwrap_or(1.0),
                ],
            )?
            .get(0))
    }

    fn save_bank(&mut self, b: &Bank) -> Result<()> {
        self.locked()?.execute(
            "UPDATE banks SET enabled = $1, description = $2, owner = $3, review_required = $4,
                 pdq_radius = $5, auto_confirm_distance = $6, four_eyes = $7, review_queue = $8,
                 hma_enabled_ratio = $10
             WHERE id = $9",
            &[
                &b.enabled,
                &b.description,
                &b.owner,
                &b.review_required,
                &(b.pdq_radius as i32),
                &b.auto_confirm_distance.map(|d| d as i32),
                &b.four_eyes,
                &b.review_queue,
                &b.id,
                &b.hma_enabled_ratio,
            ],
        )?;
        Ok(())
    }

    fn entry(&mut self, bank: &Bank, id: i64) -> Result<Option<Entry>> {
        self.locked()?
            .query_opt(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.id = $1 AND e.bank_id = $2 FOR UPDATE OF e"
                ),
                &[&id, &bank.id],
            )?
            .map(|r| entry_from_row(&r))
            .transpose()
    }

    fn save_entry(&mut self, e: &Entry) -> Result<()> {
        let d = e.disabled.as_ref();
        let tags = (!e.tags.is_empty()).then(|| e.tags.join(" "));
        self.locked()?.execute(
            "UPDATE entries SET category = $1, severity = $2, tags = $3, source_org = $4,
                 source_id = $5, verified_by = $6, verified_at = $7, enabled = $8,
                 disabled_by = $9, disabled_at = $10, disabled_reason = $11, seq = $12
             WHERE id = $13",
            &[
                &e.category.map(|c| c.name()),
                &e.severity.map(|s| s.name()),
                &tags,
                &e.source_org,
                &e.source_id,
                &e.verified_by,
                &e.verified_at,
                &e.enabled,
                &d.map(|d| d.by.as_str()),
                &d.map(|d| d.at),
                &d.map(|d| d.reason.as_str()),
                &e.seq,
                &e.id,
            ],
        )?;
        Ok(())
    }

    fn delete_entry(&mut self, id: i64) -> Result<()> {
        self.locked()?.execute("DELETE FROM entries WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn insert_change(&mut self, c: &Record<'_>) -> Result<()> {
        let e = c.entry.as_ref();
        self.locked()?.execute(
            "INSERT INTO changes (seq, at, actor, action, bank_id, bank_name, entry_id,
                 signal_type, value, enabled, category, severity, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &c.seq,
                &c.at,
                &c.actor,
                &c.action.name(),
                &c.bank_id,
                &c.bank,
                &e.map(|e| e.id),
                &e.map(|e| e.signal_type.name()),
                &e.map(|e| e.value),
                &e.map(|e| e.enabled),
                &e.and_then(|e| e.category).map(|c| c.name()),
                &e.and_then(|e| e.severity).map(|s| s.name()),
                &c.reason,
            ],
        )?;
        Ok(())
    }

    /// COPY into the staging table, then one statement inserts the signals the bank does not
    /// hold yet and their `add` records.
    fn insert_entries(
        &mut self,
        bank: &Bank,
        entries: &[NewEntry],
        actor: &str,
        now: Millis,
        present_ids: bool,
    ) -> Result<Vec<Added>> {
        let client = &mut **self.client;
        client.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS spoor_import_stage (
                 ord BIGINT, signal_type TEXT, value BYTEA, category TEXT, severity TEXT,
                 tags TEXT, source_org TEXT, source_id TEXT, added_by TEXT, added_at BIGINT,
                 verified_by TEXT, verified_at BIGINT, enabled BOOLEAN, disabled_by TEXT,
                 disabled_at BIGINT, disabled_reason TEXT);
             TRUNCATE spoor_import_stage;",
        )?;
        let mut writer =
            client.copy_in(&format!("COPY spoor_import_stage ({STAGE_COLUMNS}) FROM STDIN"))?;
        let mut buf = String::with_capacity(256 * 1024);
        for (ord, e) in entries.iter().enumerate() {
            copy_row(&mut buf, ord, e, actor, now);
            if buf.len() > 192 * 1024 {
                writer.write_all(buf.as_bytes()).map_err(copy_error)?;
                buf.clear();
            }
        }
        writer.write_all(buf.as_bytes()).map_err(copy_error)?;
        writer.finish()?;
        let base = self.next_seq()?;
        let client = self.locked()?;
        // Nested loops over the unique index, whatever the planner's statistics say about a table
        // that grew a minute ago (a hash join would read the whole bank for every batch). No JIT:
        // compiling the statement took a fifth of a 50,000-row batch's time. The batch is
        // sorted in memory.
        client.batch_execute(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; \
             SET LOCAL jit = off; SET LOCAL work_mem = '64MB'",
        )?;
        // Only signals the bank does not hold are inserted (NOT EXISTS, and one row per signal
        // of the batch), so a re-import consumes no value of the id sequence: an INSERT that
        // ends in ON CONFLICT DO NOTHING would draw one per row first. Under the writer lock
        // nothing else inserts meanwhile, so no conflict is possible (one would fail the batch
        // whole, not skip a row) and the unique index is probed once per row. Sequence numbers are `base + position in the batch`: a signal the bank holds
        // leaves a gap, which followers do not mind (they ask for "after N"); the writer lock
        // keeps every number above all committed ones.
        // A signal given twice in the batch is inserted once, for its first line. Keeping one
        // row per signal costs the server a sort of the whole batch, so it is asked for only
        // when the batch does hold a signal twice (an import of a clean list never does).
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        let repeats = !entries.iter().all(|e| seen.insert((e.signal_type, e.value.as_slice())));
        drop(seen);
        let fresh = if repeats {
            "SELECT DISTINCT ON (s.signal_type, s.value) s.*
             FROM spoor_import_stage s
             WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.bank_id = $1
                               AND e.signal_type = s.signal_type AND e.value = s.value)
             ORDER BY s.signal_type, s.value, s.ord"
        } else {
            "SELECT s.* FROM spoor_import_stage s
             WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.bank_id = $1
                               AND e.signal_type = s.signal_type AND e.value = s.value)"
        };
        let rows = client.query(
            &format!(
                "WITH fresh AS ({fresh}), ins AS (
                 INSERT INTO entries (bank_id, signal_type, value, category, severity, tags,
                     source_org, source_id, added_by, added_at, verified_by, verified_at,
                     enabled, disabled_by, disabled_at, disabled_reason, seq, added_seq)
                 SELECT $1, signal_type, value, category, severity, tags, source_org, source_id,
                     added_by, added_at, verified_by, verified_at, enabled, disabled_by,
                     disabled_at, disabled_reason, $2::BIGINT + ord, $2::BIGINT + ord
                 FROM fresh ORDER BY ord
                 RETURNING id, seq, signal_type, value, enabled, category, severity
             ), log AS (
                 INSERT INTO changes (seq, at, actor, action, bank_id, bank_name, entry_id,
                     signal_type, value, enabled, category, severity)
                 SELECT seq, $3, $4, 'add', $1, $5, id, signal_type, value, enabled, category,
                     severity
                 FROM ins
             )
             SELECT seq - $2::BIGINT, id FROM ins"
            ),
            &[&bank.id, &base, &now, &actor, &bank.name],
        )?;
        let mut out = vec![Added::Present(0); entries.len()];
        for r in &rows {
            let (ord, id): (i64, i64) = (r.get(0), r.get(1));
            out[ord as usize] = Added::New(id);
        }
        if present_ids && rows.len() < entries.len() {
            for r in client.query(
                "SELECT s.ord, e.id FROM spoor_import_stage s JOIN entries e
                 ON e.bank_id = $1 AND e.signal_type = s.signal_type AND e.value = s.value",
                &[&bank.id],
            )? {
                let (ord, id): (i64, i64) = (r.get(0), r.get(1));
                if out[ord as usize] == Added::Present(0) {
                    out[ord as usize] = Added::Present(id);
                }
            }
        }
        Ok(out)
    }

    fn audit_head(&mut self) -> Result<Option<(i64, spoor_audit::Digest)>> {
        let lock = !self.audit_locked;
        self.audit_locked = true;
        audit_head_in(&mut **self.client, lock)
    }

    fn insert_audit(&mut self, r: &spoor_audit::Record) -> Result<()> {
        insert_audit_in(&mut **self.client, r)
    }

    fn audit_hash_at(&mut self, seq: i64) -> Result<Option<spoor_audit::Digest>> {
        self.client
            .query_opt("SELECT hash FROM audit WHERE seq = $1", &[&seq])?
            .map(|r| crate::audit::digest(r.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn insert_checkpoint(&mut self, c: &spoor_audit::Checkpoint) -> Result<()> {
        self.client.execute(
            "INSERT INTO audit_checkpoints (seq, hash, at, public_key, signature)
             VALUES ($1, $2, $3, $4, $5)",
            &[&c.seq, &&c.hash[..], &c.at, &&c.public_key[..], &&c.signature[..]],
        )?;
        Ok(())
    }

    fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()> {
        let client = self.locked()?;
        if client.query_opt("SELECT 1 FROM api_keys WHERE name = $1", &[&key.name])?.is_some() {
            return Err(BankError::KeyExists(key.name.clone()));
        }
        client.execute(
            "INSERT INTO api_keys (key_id, name, role, banks, secret_hash, created_by, created_at,
                                   show_distance)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &key.key_id,
                &key.name,
                &key.role.name(),
                &key.banks.as_ref().map(|b| b.join(",")),
                &&secret_hash[..],
                &key.created_by,
                &key.created_at,
                &key.show_distance,
            ],
        )?;
        Ok(())
    }

    fn revoke_key(&mut self, name: &str, actor: &str, now: Millis) -> Result<bool> {
        let client = self.locked()?;
        let n = client.execute(
            "UPDATE api_keys SET revoked_by = $1, revoked_at = $2
             WHERE name = $3 AND revoked_at IS NULL",
            &[&actor, &now, &name],
        )?;
        if n > 0 {
            return Ok(true);
        }
        if client.query_opt("SELECT 1 FROM api_keys WHERE name = $1", &[&name])?.is_some() {
            Ok(false)
        } else {
            Err(BankError::NoSuchKey(name.to_string()))
        }
    }

    fn commit(mut self) -> Result<()> {
        self.client.batch_execute("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn describe(&self) -> String {
        self.url_for_messages.clone()
    }

    fn create_bank(&self, bank: &NewBank, actor: &str) -> Result<Bank> {
        write::create_bank(self, bank, actor)
    }

    fn banks(&self) -> Result<Vec<Bank>> {
        let rows =
            self.lock()?.query(&format!("SELECT {BANK_COLUMNS} FROM banks ORDER BY name"), &[])?;
        Ok(rows.iter().map(bank_from_row).collect())
    }

    fn bank(&self, name: &str) -> Result<Bank> {
        bank_in(&mut *self.lock()?, name)
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
        let mut client = self.lock()?;
        let bank = bank_in(&mut *client, name)?;
        let mut stats = BankStats { bank: bank.name.clone(), ..Default::default() };
        for r in client.query(
            "SELECT signal_type, COALESCE(category, 'none'), enabled, COUNT(*)
             FROM entries WHERE bank_id = $1 GROUP BY 1, 2, 3",
            &[&bank.id],
        )? {
            stats.add(r.get(0), r.get(1), r.get(2), r.get::<_, i64>(3) as u64);
        }
        stats.last_seq = client
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM changes WHERE bank_id = $1", &[&bank.id])?
            .get(0);
        Ok(stats)
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
        let mut client = self.lock()?;
        let b = bank_in(&mut *client, bank)?;
        let row = client.query_opt(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                 WHERE e.id = $1 AND e.bank_id = $2"
            ),
            &[&id, &b.id],
        )?;
        match row {
            Some(r) => entry_from_row(&r),
            None => Err(BankError::NoSuchEntry { bank: bank.to_string(), id }),
        }
    }

    fn entries(&self, bank: &str, after_id: i64, limit: usize) -> Result<Vec<Entry>> {
        let mut client = self.lock()?;
        let b = bank_in(&mut *client, bank)?;
        client
            .query(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3"
                ),
                &[&b.id, &after_id, &(limit as i64)],
            )?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    fn entries_page(
        &self,
        bank: &str,
        filter: &crate::browse::EntryFilter,
        after_id: i64,
        limit: usize,
        max_scan: usize,
    ) -> Result<crate::browse::EntryPage> {
        use postgres::types::ToSql;
        crate::browse::check_page(limit, max_scan)?;
        let mut client = self.lock()?;
        let b = bank_in(&mut *client, bank)?;
        let (conds, texts) =
            filter.conditions(2, |n| format!("${n}"), "NOT e.enabled", "e.enabled");
        let mut params: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(b.id), Box::new(after_id)];
        params.extend(texts.into_iter().map(|t| Box::new(t) as Box<dyn ToSql + Sync>));
        // Without a filter every entry passes: no window. Disabled entries have an index of
        // their own; anything else scans a bounded window of ids, so a rare filter costs at
        // most `max_scan` rows a page.
        let (sql, window_end) = if filter.is_empty() || filter.enabled == Some(false) {
            (
                format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = $1 AND e.id > $2{conds} ORDER BY e.id LIMIT {limit}"
                ),
                None,
            )
        } else {
            let end: Option<i64> = client
                .query_one(
                    &format!(
                        "SELECT MAX(id) FROM (SELECT id FROM entries WHERE bank_id = $1 AND id > $2
                         ORDER BY id LIMIT {max_scan}) w"
                    ),
                    &[&b.id, &after_id],
                )?
                .get(0);
            let Some(end) = end else {
                return Ok(crate::browse::EntryPage { entries: Vec::new(), next_after: None });
            };
            params.push(Box::new(end));
            let n = params.len();
            (
                format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = $1 AND e.id > $2 AND e.id <= ${n}{conds}
                     ORDER BY e.id LIMIT {limit}"
                ),
                Some(end),
            )
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let entries: Vec<Entry> =
            client.query(&sql, &refs)?.iter().map(entry_from_row).collect::<Result<_>>()?;
        let next_after = crate::browse::next_after(&entries, limit, window_end, || {
            Ok(client.query_one("SELECT MAX(id) FROM entries WHERE bank_id = $1", &[&b.id])?.get(0))
        })?;
        Ok(crate::browse::EntryPage { entries, next_after })
    }

    fn count_disabled(&self, bank: &str) -> Result<u64> {
        let mut client = self.lock()?;
        let b = bank_in(&mut *client, bank)?;
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM entries WHERE bank_id = $1 AND NOT enabled", &[&b.id])?
            .get(0);
        Ok(n as u64)
    }

    fn entry_by_value(
        &self,
        bank: &str,
        signal_type: SignalType,
        value: &[u8],
    ) -> Result<Option<Entry>> {
        let mut client = self.lock()?;
        let b = bank_in(&mut *client, bank)?;
        client
            .query_opt(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.bank_id = $1 AND e.signal_type = $2 AND e.value = $3"
                ),
                &[&b.id, &signal_type.name(), &value],
            )?
            .map(|r| entry_from_row(&r))
            .transpose()
    }

    fn entry_history(&self, bank: &str, id: i64, limit: usize) -> Result<Vec<Change>> {
        let mut client = self.lock()?;
        let b = bank_in(&mut *client, bank)?;
        // The add record by the number the entry keeps; a deleted entry's by a scan (rare: the
        // console lists live entries).
        let added: Option<i64> = client
            .query_opt(
                "SELECT added_seq FROM entries WHERE id = $1 AND bank_id = $2",
                &[&id, &b.id],
            )?
            .and_then(|r| r.get(0));
        let add_sql = match added {
            Some(_) => "SELECT {C} FROM changes WHERE seq = $3 AND entry_id = $1 AND bank_id = $2",
            None => {
                "SELECT {C} FROM changes WHERE entry_id = $1 AND bank_id = $2
                     AND action = 'add' AND $3::BIGINT IS NULL"
            }
        }
        .replace("{C}", CHANGE_COLUMNS);
        let sql = format!(
            "({add_sql}) UNION ALL (SELECT {CHANGE_COLUMNS} FROM changes
             WHERE entry_id = $1 AND bank_id = $2 AND action <> 'add'
             AND ($3::BIGINT IS NULL OR seq > $3) ORDER BY seq LIMIT $4)
             ORDER BY 1 LIMIT $4"
        );
        client
            .query(&sql, &[&id, &b.id, &added, &(limit as i64)])?
            .iter()
            .map(change_from_row)
            .collect()
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
        let mut client = self.lock()?;
        // One repeatable-read transaction and a portal read in pages: a consistent snapshot in
        // constant memory, whatever the bank's size.
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let b = bank_in(&mut tx, bank)?;
        let since = since.unwrap_or(0);
        let stmt = tx.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
             WHERE e.bank_id = $1 AND e.seq > $2 ORDER BY e.id"
        ))?;
        let portal = tx.bind(&stmt, &[&b.id, &since])?;
        let mut n = 0;
        loop {
            let rows = tx.query_portal(&portal, 10_000)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let entry = entry_from_row(r)?;
                sink(&entry).map_err(|source| BankError::Io {
                    context: "cannot write the export".into(),
                    source,
                })?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn log(&self, bank: Option<&str>, since: i64, limit: usize) -> Result<Vec<Change>> {
        let mut client = self.lock()?;
        let bank_id = match bank {
            Some(name) => Some(bank_in(&mut *client, name)?.id),
            None => None,
        };
        client
            .query(
                &format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes
                     WHERE seq > $1 AND ($2::BIGINT IS NULL OR bank_id = $2)
                     ORDER BY seq LIMIT $3"
                ),
                &[&since, &bank_id, &(limit as i64)],
            )?
            .iter()
            .map(change_from_row)
            .collect()
    }

    fn deltas(&self, since: i64, limit: usize) -> Result<Vec<Delta>> {
        self.lock()?
            .query(
                &format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2"
                ),
                &[&since, &(limit as i64)],
            )?
            .iter()
            .map(delta_from_row)
            .collect()
    }

    fn schedule_enable(&self, bank: &str, id: i64, until: Millis, seq: i64) -> Result<()> {
        self.lock()?.execute(
            "INSERT INTO timed_disables (entry_id, bank, until_ms, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT (entry_id) DO UPDATE SET bank = $2, until_ms = $3, seq = $4",
            &[&id, &bank, &until, &seq],
        )?;
        Ok(())
    }

    fn scheduled_enable(&self, id: i64) -> Result<Option<Millis>> {
        Ok(self
            .lock()?
            .query_opt("SELECT until_ms FROM timed_disables WHERE entry_id = $1", &[&id])?
            .map(|r| r.get(0)))
    }

    fn due_enables(&self, now: Millis, limit: usize) -> Result<Vec<crate::TimedDisable>> {
        Ok(self
            .lock()?
            .query(
                "SELECT bank, entry_id, until_ms, seq FROM timed_disables
                 WHERE until_ms <= $1 ORDER BY until_ms, entry_id LIMIT $2",
                &[&now, &(limit as i64)],
            )?
            .iter()
            .map(|r| crate::TimedDisable {
                bank: r.get(0),
                entry_id: r.get(1),
                until: r.get(2),
                seq: r.get(3),
            })
            .collect())
    }

    fn clear_enable(&self, id: i64) -> Result<()> {
        self.lock()?.execute("DELETE FROM timed_disables WHERE entry_id = $1", &[&id])?;
        Ok(())
    }

    fn last_seq(&self) -> Result<i64> {
        Ok(self.lock()?.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[])?.get(0))
    }

    fn signals(&self, after_id: i64, limit: usize) -> Result<Vec<SignalRow>> {
        self.lock()?
            .query(
                "SELECT id, bank_id, signal_type, value, enabled, category FROM entries
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after_id, &(limit as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(SignalRow {
                    id: r.get(0),
                    bank_id: r.get(1),
                    signal_type: r
                        .get::<_, String>(2)
                        .parse()
                        .map_err(|e| corrupt(format!("{e}")))?,
                    value: r.get(3),
                    enabled: r.get(4),
                    category: parse_opt(r.get(5))?,
                })
            })
            .collect()
    }

    fn create_key(&self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()> {
        write::create_key(self, key, secret_hash)
    }

    fn keys(&self) -> Result<Vec<(ApiKey, Vec<u8>)>> {
        self.lock()?
            .query(
                "SELECT key_id, name, role, banks, created_by, created_at, revoked_by, revoked_at,
                        secret_hash, show_distance FROM api_keys ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                let banks: Option<String> = r.get(3);
                Ok((
                    ApiKey {
                        key_id: r.get(0),
                        name: r.get(1),
                        role: r.get::<_, String>(2).parse().map_err(corrupt)?,
                        banks: banks.map(|b| b.split(',').map(str::to_string).collect()),
                        created_by: r.get(4),
                        created_at: r.get(5),
                        revoked_by: r.get(6),
                        revoked_at: r.get(7),
                        show_distance: r.get(9),
                    },
                    r.get(8),
                ))
            })
            .collect()
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

impl crate::audit::AuditLog for PostgresStore {
    fn audit_append(&self, record: &spoor_audit::NewRecord) -> Result<spoor_audit::Record> {
        write::audit_append(self, record)
    }

    fn audit_append_relaxed(&self, record: &spoor_audit::NewRecord) -> Result<spoor_audit::Record> {
        // A person waits for each view record, so it is one round trip: one simple query opens
        // the transaction, skips the flush wait, takes the audit lock, then reads the head and
        // inserts the record in one statement that assigns `seq` and hashes inside the server
        // (`prev_hash ‖ format ‖ seq ‖ the rest`, the rest made here), and commits. Each
        // statement of the message reads a fresh snapshot, so the head is read after the lock
        // is held. Values go in as hex (`decode(…, 'hex')`): nothing in a record can change
        // the statement's text. The row that comes back is checked against the hash made here.
        let at = crate::model::now_ms();
        // A draft with a stand-in head gives the fields and the bytes after `seq`.
        let draft = spoor_audit::Record::seal(None, at, record)
            .map_err(|e| BankError::Invalid(e.to_string()))?;
        let (format, tail) = draft.canonical_parts();
        let hex = spoor_audit::hex;
        let text =
            |t: &str| format!("convert_from(decode('{}', 'hex'), 'UTF8')", hex(t.as_bytes()));
        let sql = format!(
            "BEGIN; SET LOCAL synchronous_commit TO OFF; \
             SELECT pg_advisory_xact_lock({AUDIT_LOCK}); \
             WITH head AS (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1), \
                  next AS (SELECT COALESCE((SELECT seq FROM head), 0) + 1 AS seq, \
                                  COALESCE((SELECT hash FROM head), decode('{genesis}', 'hex')) AS prev) \
             INSERT INTO audit (seq, at, actor_kind, actor, action, object_kind, object_id, \
                                details, prev_hash, hash) \
             SELECT next.seq, {at}, {kind}, {actor}, {action}, {object_kind}, {object_id}, \
                    {details}, next.prev, \
                    sha256(next.prev || decode('{format}', 'hex') || int8send(next.seq) || \
                           decode('{tail}', 'hex')) \
             FROM next RETURNING seq, encode(prev_hash, 'hex'), encode(hash, 'hex'); \
             COMMIT",
            genesis = hex(&spoor_audit::GENESIS),
            kind = text(&draft.actor_kind),
            actor = text(&draft.actor),
            action = text(&draft.action),
            object_kind = text(&draft.object_kind),
            object_id = text(&draft.object_id),
            details = text(&draft.details),
            format = hex(format),
            tail = hex(&tail),
        );
        // On a connection not tested first (the test is a round trip of its own). One that died
        // while idle (the server restarted) fails before the statement runs, is closed, and the
        // record goes again on a tested connection. (Were the server to fail between its commit
        // and its answer, the view would be recorded twice: more record, never less.)
        let run = |client: &mut postgres::Client| match client.simple_query(&sql) {
            Ok(m) => Ok(m),
            Err(e) => {
                // The connection goes back to the pool outside a transaction.
                if !client.is_closed() {
                    let _ = client.batch_execute("ROLLBACK");
                }
                Err(e)
            }
        };
        let messages = {
            let mut client = self.pool.get_untested()?;
            match run(&mut client) {
                Ok(m) => m,
                Err(e) if !client.is_closed() => return Err(e.into()),
                Err(_) => {
                    drop(client);
                    run(&mut *self.lock()?)?
                }
            }
        };
        let row = messages
            .iter()
            .find_map(|m| match m {
                // The lock's row has one column, the inserted record's three.
                postgres::SimpleQueryMessage::Row(row) if row.len() == 3 => Some(row),
                _ => None,
            })
            .ok_or_else(|| BankError::Invalid("the audit insert returned no record".into()))?;
        let (Some(seq), Some(prev), Some(hash)) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)
        else {
            return Err(BankError::Invalid("the audit insert returned an empty record".into()));
        };
        let seq_before =
            seq.parse::<i64>().ok().and_then(|s| s.checked_sub(1)).ok_or_else(|| {
                BankError::Invalid(format!("the audit insert returned seq {seq}"))
            })?;
        let (_, prev) = parse_head(&seq_before.to_string(), prev)?;
        let (_, hash) = parse_head(seq, hash)?;
        let sealed =
            spoor_audit::Record::seal((seq_before > 0).then_some((seq_before, prev)), at, record)
                .map_err(|e| BankError::Invalid(e.to_string()))?;
        if sealed.hash != hash || sealed.prev_hash != prev {
            // Committed already: `spoor audit verify` will name it. Say so loudly now.
            return Err(BankError::Invalid(format!(
                "audit record {seq} was hashed differently by the database; run `spoor audit verify`"
            )));
        }
        Ok(sealed)
    }

    fn audit_append_all(
        &self,
        records: &[spoor_audit::NewRecord],
    ) -> Result<Vec<spoor_audit::Record>> {
        write::audit_append_all(self, records)
    }

    fn audit_head(&self) -> Result<Option<(i64, spoor_audit::Digest)>> {
        self.lock()?
            .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
            .map(|r| Ok((r.get(0), crate::audit::digest(r.get::<_, &[u8]>(1))?)))
            .transpose()
    }

    fn audit_records(&self, q: &crate::audit::AuditQuery) -> Result<Vec<spoor_audit::Record>> {
        use crate::audit::{Param, AUDIT_COLUMNS};
        q.check()?;
        let (cond, params) = q.where_clause(|n| format!("${n}"));
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE {cond} ORDER BY {} LIMIT {}",
            q.order(),
            q.limit
        );
        let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params
            .into_iter()
            .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
                match p {
                    Param::Int(i) => Box::new(i),
                    Param::Text(t) => Box::new(t),
                }
            })
            .collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            values.iter().map(|b| b.as_ref()).collect();
        self.lock()?
            .query(&sql, &refs)?
            .iter()
            .map(|r| {
                Ok(spoor_audit::Record {
                    seq: r.get(0),
                    at: r.get(1),
                    actor_kind: r.get(2),
                    actor: r.get(3),
                    action: r.get(4),
                    object_kind: r.get(5),
                    object_id: r.get(6),
                    details: r.get(7),
                    prev_hash: crate::audit::digest(r.get::<_, &[u8]>(8))?,
                    hash: crate::audit::digest(r.get::<_, &[u8]>(9))?,
                })
            })
            .collect()
    }

    fn audit_add_checkpoint(
        &self,
        checkpoint: &spoor_audit::Checkpoint,
        actor: &str,
    ) -> Result<spoor_audit::Record> {
        crate::audit::add_checkpoint(self, checkpoint, actor)
    }

    fn audit_checkpoints(&self) -> Result<Vec<spoor_audit::Checkpoint>> {
        self.lock()?
            .query(
                "SELECT seq, hash, at, public_key, signature FROM audit_checkpoints ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| {
                crate::audit::checkpoint_from_parts(
                    r.get(0),
                    r.get::<_, &[u8]>(1),
                    r.get(2),
                    r.get::<_, &[u8]>(3),
                    r.get::<_, &[u8]>(4),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_escapes() {
        let mut s = String::new();
        copy_text(&mut s, Some("a\tb\\c\nd"));
        assert_eq!(s, "a\\tb\\\\c\\nd");
    }
}
