//! [`Outbox`] on the embedded SQLite store: writes on the writer connection (each one
//! transaction), reads on the read pool.

use rusqlite::{params, OptionalExtension, Row};

use crate::model::Millis;
use crate::outbox::{self, Outbox, OutboxCounts, OutboxItem, OutboxQuery, OUTBOX_COLUMNS};
use crate::{Result, SqliteStore};

fn item(r: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.get(0)?,
        topic: r.get(1)?,
        dedupe_key: r.get(2)?,
        target: r.get(3)?,
        payload: r.get(4)?,
        created_at: r.get(5)?,
        attempts: outbox::attempts(r.get(6)?),
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
        delivered_at: r.get(9)?,
        gave_up_at: r.get(10)?,
        not_before: r.get(11)?,
    })
}

/// Only a pending item is changed.
const PENDING: &str = "delivered_at IS NULL AND gave_up_at IS NULL";

impl SqliteStore {
    /// Runs one conditional `UPDATE` of a pending item; whether it changed a row.
    fn outbox_mark(&self, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<bool> {
        self.people_write(|tx| {
            let n = tx.execute(sql, p).map_err(|e| self.err(e))?;
            Ok(n == 1)
        })
    }
}

impl SqliteStore {
    /// One item read on `conn`.
    pub(crate) fn outbox_item_on(
        &self,
        conn: &rusqlite::Connection,
        id: i64,
    ) -> Result<Option<OutboxItem>> {
        conn.prepare_cached(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], item).optional())
            .map_err(|e| self.err(e))
    }
}

impl Outbox for SqliteStore {
    fn outbox_add(
        &self,
        topic: &str,
        dedupe_key: &str,
        target: &str,
        payload: &str,
        now: Millis,
    ) -> Result<bool> {
        outbox::check_add(topic, dedupe_key, target, payload)?;
        self.people_write(|tx| {
            let n = tx
                .execute(
                    "INSERT INTO outbox (topic, dedupe_key, target, payload, created_at,
                                         next_attempt_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT (dedupe_key) DO NOTHING",
                    params![topic, dedupe_key, target, payload, now],
                )
                .map_err(|e| self.err(e))?;
            Ok(n == 1)
        })
    }

    fn outbox_due(&self, topic: &str, now: Millis, limit: usize) -> Result<Vec<OutboxItem>> {
        let limit = outbox::check_limit(limit)?;
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_due
                 WHERE {PENDING} AND next_attempt_at <= ?1 AND topic = ?2
                 ORDER BY next_attempt_at, id LIMIT ?3"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![now, topic, limit], item).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn outbox_claim(
        &self,
        topics: &[String],
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let limit = outbox::check_limit(limit)?;
        let topics =
            serde_json::to_string(topics).map_err(|e| crate::BankError::Invalid(e.to_string()))?;
        let until = now.saturating_add(lease_ms.max(1));
        self.people_write(|tx| {
            let mut items = tx
                .prepare_cached(&format!(
                    "UPDATE outbox SET claimed_until = ?2
                     WHERE id IN (
                         SELECT id FROM outbox INDEXED BY outbox_due
                         WHERE {PENDING} AND next_attempt_at <= ?1
                           AND (claimed_until IS NULL OR claimed_until < ?1)
                           AND topic IN (SELECT value FROM json_each(?3))
                         ORDER BY next_attempt_at, id LIMIT ?4)
                     RETURNING {OUTBOX_COLUMNS}"
                ))
                .and_then(|mut st| {
                    st.query_map(params![now, until, topics, limit], item)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| self.err(e))?;
            items.sort_by_key(|i| (i.next_attempt_at, i.id));
            Ok(items)
        })
    }

    fn outbox_delivered(&self, id: i64, now: Millis) -> Result<bool> {
        self.outbox_mark(
            &format!("UPDATE outbox SET delivered_at = ?2 WHERE id = ?1 AND {PENDING}"),
            &[&id, &now],
        )
    }

    fn outbox_retry(&self, id: i64, next_attempt_at: Millis, error: &str) -> Result<bool> {
        let error = outbox::clean_error(error);
        self.outbox_mark(
            &format!(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3,
                     claimed_until = NULL
                 WHERE id = ?1 AND {PENDING}"
            ),
            &[&id, &next_attempt_at, &error],
        )
    }

    fn outbox_give_up(&self, id: i64, now: Millis, error: &str) -> Result<bool> {
        let error = outbox::clean_error(error);
        self.outbox_mark(
            &format!(
                "UPDATE outbox SET attempts = attempts + 1, gave_up_at = ?2, last_error = ?3
                 WHERE id = ?1 AND {PENDING}"
            ),
            &[&id, &now, &error],
        )
    }

    fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>> {
        let conn = self.read()?;
        conn.prepare_cached(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], item).optional())
            .map_err(|e| self.err(e))
    }

    fn outbox_find(&self, q: &OutboxQuery) -> Result<Vec<OutboxItem>> {
        let (keys, range) = q.checked()?;
        let (from, to) = range.unzip();
        let conn = self.read()?;
        conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE id > ?1
               AND (?2 = '[]' OR dedupe_key IN (SELECT value FROM json_each(?2)))
               AND (?3 IS NULL OR (dedupe_key >= ?3 AND dedupe_key < ?4))
               AND (?5 = 0 OR (delivered_at IS NULL AND gave_up_at IS NULL))
             ORDER BY id LIMIT ?6"
        ))
        .and_then(|mut s| {
            s.query_map(
                rusqlite::params![q.after, keys, from, to, q.pending_only, q.limit as i64],
                item,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| self.err(e))
    }

    fn outbox_counts(&self) -> Result<OutboxCounts> {
        let conn = self.read()?;
        conn.query_row(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND gave_up_at IS NULL),
                    COUNT(*) FILTER (WHERE delivered_at IS NOT NULL),
                    COUNT(*) FILTER (WHERE delivered_at IS NULL AND gave_up_at IS NOT NULL)
             FROM outbox",
            [],
            |r| {
                Ok(OutboxCounts {
                    pending: r.get::<_, i64>(0)?.max(0) as u64,
                    delivered: r.get::<_, i64>(1)?.max(0) as u64,
                    gave_up: r.get::<_, i64>(2)?.max(0) as u64,
                })
            },
        )
        .map_err(|e| self.err(e))
    }
}
