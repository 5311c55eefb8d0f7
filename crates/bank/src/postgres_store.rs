//! The PostgreSQL store, for many replicas over one database and for lists too large to keep in
//! one file.
//!
//! Every writing transaction first takes one transaction-scoped advisory lock, then numbers its
//! changes from the newest sequence number. Writers therefore commit in sequence order, and a
//! follower reading "changes after N" never misses a change that was committed late with a smaller
//! number. Bulk imports go through `COPY` into a temporary table and one `INSERT … SELECT`.

use std::fmt::Write as _;
use std::io::Write as _;

use postgres::Row;
use spoor_core::SignalType;

use crate::model::{now_ms, Millis};
use crate::pg_conn::{ConnectTarget, PgGuard, PgOptions, PgPool};
use crate::{
    check_actor, check_reason, Action, Added, ApiKey, Bank, BankError, BankName, BankStats,
    BatchOutcome, Change, Delta, Disabled, Entry, EntryUpdate, ImportSession, NewBank, NewEntry,
    Result, Store, MAX_BATCH,
};
use crate::{validate_all, SignalRow};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_banks.sql"),
    include_str!("../migrations/postgres/0002_keys.sql"),
    include_str!("../migrations/postgres/0003_key_distances.sql"),
];

/// Key of the advisory lock every writer holds for the length of its transaction.
const WRITE_LOCK: i64 = 0x5370_6f6f_7201;

/// The PostgreSQL store: a small pool of connections (see [`PgOptions`]) that replaces broken
/// connections by itself, so the store keeps working across restarts of the server.
pub struct PostgresStore {
    url_for_messages: String,
    pool: PgPool,
}

const ENTRY_COLUMNS: &str =
    "e.id, b.name, e.signal_type, e.value, e.category, e.severity, e.tags, \
     e.source_org, e.source_id, e.added_by, e.added_at, e.verified_by, e.verified_at, e.enabled, \
     e.disabled_by, e.disabled_at, e.disabled_reason, e.seq";

const BANK_COLUMNS: &str =
    "id, name, description, owner, created_at, enabled, review_required, pdq_radius";

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
        let store = PostgresStore { url_for_messages, pool: PgPool::open(target, options)? };
        store.migrate()?;
        Ok(store)
    }

    /// A connection from the pool: [`BankError::Unreachable`] when none can be had within the
    /// checkout timeout (the server is down or unreachable).
    fn lock(&self) -> Result<PgGuard<'_>> {
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

/// Takes the writer lock and returns the next sequence number.
fn begin_write(tx: &mut impl postgres::GenericClient) -> Result<i64> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    Ok(tx.query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM changes", &[])?.get(0))
}

#[allow(clippy::too_many_arguments)]
fn insert_change(
    tx: &mut impl postgres::GenericClient,
    seq: i64,
    at: Millis,
    actor: &str,
    action: Action,
    bank_id: i64,
    entry_id: Option<i64>,
    signal: Option<(&str, &[u8])>,
    reason: Option<&str>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO changes (seq, at, actor, action, bank_id, entry_id, signal_type, value, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &seq,
            &at,
            &actor,
            &action.name(),
            &bank_id,
            &entry_id,
            &signal.map(|s| s.0),
            &signal.map(|s| s.1),
            &reason,
        ],
    )?;
    Ok(())
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

/// Writes a batch inside an open transaction that holds the writer lock: COPY into the staging
/// table, then one statement inserts the new entries and their change-log records. Returns the
/// number added and the first sequence number used.
fn write_batch_in(
    tx: &mut impl postgres::GenericClient,
    bank_id: i64,
    entries: &[NewEntry],
    actor: &str,
) -> Result<(u64, i64)> {
    let now = now_ms();
    tx.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS spoor_import_stage (
             ord BIGINT, signal_type TEXT, value BYTEA, category TEXT, severity TEXT, tags TEXT,
             source_org TEXT, source_id TEXT, added_by TEXT, added_at BIGINT, verified_by TEXT,
             verified_at BIGINT, enabled BOOLEAN, disabled_by TEXT, disabled_at BIGINT,
             disabled_reason TEXT);
         TRUNCATE spoor_import_stage;",
    )?;
    let mut writer =
        tx.copy_in(&format!("COPY spoor_import_stage ({STAGE_COLUMNS}) FROM STDIN"))?;
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
    let base = begin_write(tx)?;
    let added = tx.execute(
        // Sequence numbers are `base + position in the batch`: a signal the bank holds already
        // leaves a gap, which followers do not mind (they ask for "after N"); the writer lock
        // keeps every number above all committed ones. ON CONFLICT probes the unique index
        // row by row, whatever the planner's statistics say about a table that grew a minute ago.
        "WITH ins AS (
             INSERT INTO entries (bank_id, signal_type, value, category, severity, tags,
                 source_org, source_id, added_by, added_at, verified_by, verified_at, enabled,
                 disabled_by, disabled_at, disabled_reason, seq)
             SELECT $1, signal_type, value, category, severity, tags, source_org, source_id,
                 added_by, added_at, verified_by, verified_at, enabled, disabled_by, disabled_at,
                 disabled_reason, $2::BIGINT + ord
             FROM spoor_import_stage ORDER BY ord
             ON CONFLICT (bank_id, signal_type, value) DO NOTHING
             RETURNING id, seq
         )
         INSERT INTO changes (seq, at, actor, action, bank_id, entry_id)
         SELECT seq, $3, $4, 'add', $1, id FROM ins",
        &[&bank_id, &base, &now, &actor],
    )?;
    Ok((added, base))
}

fn copy_error(e: std::io::Error) -> BankError {
    BankError::Io { context: "PostgreSQL COPY failed".into(), source: e }
}

struct PgImport<'a> {
    client: PgGuard<'a>,
    bank_id: i64,
    actor: String,
    one_transaction: bool,
    in_transaction: bool,
}

impl ImportSession for PgImport<'_> {
    fn write_batch(&mut self, entries: &[NewEntry]) -> Result<BatchOutcome> {
        validate_all(entries)?;
        if !self.in_transaction {
            self.client.batch_execute("BEGIN")?;
            self.in_transaction = true;
        }
        // BEGIN and COMMIT are issued by hand: in one-transaction mode the transaction outlives
        // this call, which a borrowed `postgres::Transaction` cannot.
        let (added, _) = write_batch_in(&mut *self.client, self.bank_id, entries, &self.actor)?;
        if !self.one_transaction {
            self.client.batch_execute("COMMIT")?;
            self.in_transaction = false;
        }
        Ok(BatchOutcome { added, present: entries.len() as u64 - added })
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        if self.in_transaction {
            self.client.batch_execute("COMMIT")?;
            self.in_transaction = false;
        }
        Ok(())
    }
}

impl Drop for PgImport<'_> {
    fn drop(&mut self) {
        if self.in_transaction {
            let _ = self.client.batch_execute("ROLLBACK");
        }
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
        BankName::new(&bank.name)?;
        check_actor(actor)?;
        if let Some(r) = bank.pdq_radius {
            crate::model::check_radius(r).map_err(BankError::Invalid)?;
        }
        crate::model::check_text("description", &bank.description, 4096)
            .map_err(BankError::Invalid)?;
        crate::model::check_text("owner", &bank.owner, 256).map_err(BankError::Invalid)?;
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let seq = begin_write(&mut tx)?;
        if tx.query_opt("SELECT 1 FROM banks WHERE name = $1", &[&bank.name])?.is_some() {
            return Err(BankError::BankExists(bank.name.clone()));
        }
        let now = now_ms();
        let id: i64 = tx
            .query_one(
                "INSERT INTO banks (name, description, owner, created_at, review_required, pdq_radius)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &bank.name,
                    &bank.description,
                    &bank.owner,
                    &now,
                    &bank.review_required,
                    &(bank.pdq_radius.unwrap_or(31) as i32),
                ],
            )?
            .get(0);
        insert_change(&mut tx, seq, now, actor, Action::CreateBank, id, None, None, None)?;
        let created = bank_in(&mut tx, &bank.name)?;
        tx.commit()?;
        Ok(created)
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
        check_actor(actor)?;
        check_reason(reason)?;
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let seq = begin_write(&mut tx)?;
        let bank = bank_in(&mut tx, name)?;
        if bank.enabled == enabled {
            return Ok(bank);
        }
        tx.execute("UPDATE banks SET enabled = $1 WHERE id = $2", &[&enabled, &bank.id])?;
        let why = format!("{}: {reason}", if enabled { "enabled" } else { "disabled" });
        insert_change(
            &mut tx,
            seq,
            now_ms(),
            actor,
            Action::UpdateBank,
            bank.id,
            None,
            None,
            Some(&why),
        )?;
        let bank = bank_in(&mut tx, name)?;
        tx.commit()?;
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
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let seq = begin_write(&mut tx)?;
        let mut bank = bank_in(&mut tx, name)?;
        let what = settings.apply(&mut bank).map_err(BankError::Invalid)?;
        if what.is_empty() {
            return Ok(bank);
        }
        tx.execute(
            "UPDATE banks SET description = $1, owner = $2, review_required = $3, pdq_radius = $4
             WHERE id = $5",
            &[
                &bank.description,
                &bank.owner,
                &bank.review_required,
                &(bank.pdq_radius as i32),
                &bank.id,
            ],
        )?;
        let why = format!("{what}: {reason}");
        insert_change(
            &mut tx,
            seq,
            now_ms(),
            actor,
            Action::UpdateBank,
            bank.id,
            None,
            None,
            Some(&why),
        )?;
        tx.commit()?;
        Ok(bank)
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
        check_actor(actor)?;
        if entries.len() > MAX_BATCH {
            return Err(BankError::Invalid(format!(
                "{} entries in one batch: at most {MAX_BATCH} are allowed",
                entries.len()
            )));
        }
        validate_all(entries)?;
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let b = bank_in(&mut tx, bank)?;
        let (_, base) = write_batch_in(&mut tx, b.id, entries, actor)?;
        let rows = tx.query(
            "SELECT s.ord, e.id, e.seq FROM spoor_import_stage s JOIN entries e
             ON e.bank_id = $1 AND e.signal_type = s.signal_type AND e.value = s.value
             ORDER BY s.ord",
            &[&b.id],
        )?;
        let mut out = vec![Added::Present(0); entries.len()];
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            let (ord, id, seq): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
            let fresh = seq >= base && seen.insert(id);
            out[ord as usize] = if fresh { Added::New(id) } else { Added::Present(id) };
        }
        tx.commit()?;
        Ok(out)
    }

    fn import_session(
        &self,
        bank: &str,
        actor: &str,
        one_transaction: bool,
    ) -> Result<Box<dyn ImportSession + '_>> {
        check_actor(actor)?;
        let mut client = self.lock()?;
        let bank_id = bank_in(&mut *client, bank)?.id;
        Ok(Box::new(PgImport {
            client,
            bank_id,
            actor: actor.to_string(),
            one_transaction,
            in_transaction: false,
        }))
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
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let seq = begin_write(&mut tx)?;
        let b = bank_in(&mut tx, bank)?;
        let current = tx
            .query_opt("SELECT enabled FROM entries WHERE id = $1 AND bank_id = $2", &[&id, &b.id])?
            .map(|r| r.get::<_, bool>(0));
        match current {
            None => return Err(BankError::NoSuchEntry { bank: bank.to_string(), id }),
            Some(c) if c == enabled => return Ok(None),
            Some(_) => {}
        }
        let now = now_ms();
        if enabled {
            tx.execute(
                "UPDATE entries SET enabled = TRUE, disabled_by = NULL, disabled_at = NULL,
                     disabled_reason = NULL, seq = $1 WHERE id = $2",
                &[&seq, &id],
            )?;
        } else {
            tx.execute(
                "UPDATE entries SET enabled = FALSE, disabled_by = $1, disabled_at = $2,
                     disabled_reason = $3, seq = $4 WHERE id = $5",
                &[&actor, &now, &reason, &seq, &id],
            )?;
        }
        let action = if enabled { Action::Enable } else { Action::Disable };
        insert_change(&mut tx, seq, now, actor, action, b.id, Some(id), None, Some(reason))?;
        tx.commit()?;
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
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let seq = begin_write(&mut tx)?;
        let b = bank_in(&mut tx, bank)?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id
                     WHERE e.id = $1 AND e.bank_id = $2 FOR UPDATE OF e"
                ),
                &[&id, &b.id],
            )?
            .ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })?;
        let mut entry = entry_from_row(&row)?;
        let now = now_ms();
        if !update.apply(&mut entry, now).map_err(BankError::Invalid)? {
            return Ok((entry, None));
        }
        let tags = (!entry.tags.is_empty()).then(|| entry.tags.join(" "));
        tx.execute(
            "UPDATE entries SET category = $1, severity = $2, tags = $3, source_org = $4,
                 source_id = $5, verified_by = $6, verified_at = $7, seq = $8 WHERE id = $9",
            &[
                &entry.category.map(|c| c.name()),
                &entry.severity.map(|s| s.name()),
                &tags,
                &entry.source_org,
                &entry.source_id,
                &entry.verified_by,
                &entry.verified_at,
                &seq,
                &id,
            ],
        )?;
        insert_change(
            &mut tx,
            seq,
            now,
            actor,
            Action::Update,
            b.id,
            Some(id),
            None,
            Some(reason),
        )?;
        tx.commit()?;
        entry.seq = seq;
        let change = Change::of_entry(seq, now, actor, Action::Update, b.name, id, reason);
        Ok((entry, Some(change)))
    }

    fn delete_entry(&self, bank: &str, id: i64, actor: &str, reason: &str) -> Result<Change> {
        check_actor(actor)?;
        check_reason(reason)?;
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let seq = begin_write(&mut tx)?;
        let b = bank_in(&mut tx, bank)?;
        let row = tx
            .query_opt(
                "DELETE FROM entries WHERE id = $1 AND bank_id = $2 RETURNING signal_type, value",
                &[&id, &b.id],
            )?
            .ok_or_else(|| BankError::NoSuchEntry { bank: bank.to_string(), id })?;
        let (t, v): (String, Vec<u8>) = (row.get(0), row.get(1));
        let now = now_ms();
        insert_change(
            &mut tx,
            seq,
            now,
            actor,
            Action::Delete,
            b.id,
            Some(id),
            Some((&t, &v)),
            Some(reason),
        )?;
        tx.commit()?;
        Ok(Change::of_entry(seq, now, actor, Action::Delete, b.name, id, reason))
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
                "SELECT c.seq, c.at, c.actor, c.action, b.name, c.entry_id, c.reason
                 FROM changes c JOIN banks b ON b.id = c.bank_id
                 WHERE c.seq > $1 AND ($2::BIGINT IS NULL OR c.bank_id = $2)
                 ORDER BY c.seq LIMIT $3",
                &[&since, &bank_id, &(limit as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(Change {
                    seq: r.get(0),
                    at: r.get(1),
                    actor: r.get(2),
                    action: r.get::<_, String>(3).parse().map_err(corrupt)?,
                    bank: r.get(4),
                    entry_id: r.get(5),
                    reason: r.get(6),
                })
            })
            .collect()
    }

    fn deltas(&self, since: i64, limit: usize) -> Result<Vec<Delta>> {
        self.lock()?
            .query(
                "SELECT c.seq, c.action, c.bank_id, c.entry_id,
                        COALESCE(c.signal_type, e.signal_type), COALESCE(c.value, e.value),
                        COALESCE(e.enabled, FALSE), e.category
                 FROM changes c LEFT JOIN entries e ON e.id = c.entry_id
                 WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
                &[&since, &(limit as i64)],
            )?
            .iter()
            .map(|r| {
                let action: Action = r.get::<_, String>(1).parse().map_err(corrupt)?;
                let signal = match (r.get::<_, Option<String>>(4), r.get::<_, Option<Vec<u8>>>(5)) {
                    (Some(t), Some(v)) => {
                        Some((t.parse().map_err(|e| corrupt(format!("{e}")))?, v))
                    }
                    _ => None,
                };
                Ok(Delta {
                    seq: r.get(0),
                    action,
                    bank_id: r.get(2),
                    entry_id: r.get(3),
                    signal,
                    enabled: action != Action::Delete && r.get::<_, bool>(6),
                    category: r
                        .get::<_, Option<String>>(7)
                        .map(|c| c.parse())
                        .transpose()
                        .map_err(corrupt)?,
                })
            })
            .collect()
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
                    category: r
                        .get::<_, Option<String>>(5)
                        .map(|c| c.parse())
                        .transpose()
                        .map_err(corrupt)?,
                })
            })
            .collect()
    }

    fn create_key(&self, key: &ApiKey, secret_hash: &[u8; 32]) -> Result<()> {
        check_actor(&key.name)?;
        let mut client = self.lock()?;
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
        check_actor(actor)?;
        self.lock()?.execute(
            "UPDATE api_keys SET revoked_by = $1, revoked_at = $2
             WHERE name = $3 AND revoked_at IS NULL",
            &[&actor, &now_ms(), &name],
        )?;
        self.keys()?
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.name == name)
            .ok_or_else(|| BankError::NoSuchKey(name.to_string()))
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
