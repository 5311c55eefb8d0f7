//! [`Outbox`] on the PostgreSQL store: each call one statement on a pooled connection. Outbox
//! writes are not change-log changes: they take no advisory lock; the conditional `UPDATE`s make
//! each mark atomic on its own, so of two workers marking one item exactly one succeeds.

use postgres::Row;

use crate::model::Millis;
use crate::outbox::{self, Outbox, OutboxCounts, OutboxItem, OutboxQuery, OUTBOX_COLUMNS};
use crate::{PostgresStore, Result};

fn item(r: &Row) -> OutboxItem {
    OutboxItem {
        id: r.get(0),
        topic: r.get(1),
        dedupe_key: r.get(2),
        target: r.get(3),
        payload: r.get(4),
        created_at: r.get(5),
        attempts: outbox::attempts(r.get(6)),
        next_attempt_at: r.get(7),
        last_error: r.get(8),
        delivered_at: r.get(9),
        gave_up_at: r.get(10),
        not_before: r.get(11),
    }
}

/// Only a pending item is changed.
const PENDING: &str = "delivered_at IS NULL AND gave_up_at IS NULL";

/// One item read on `c` (`lock`: with its row locked, in a transaction).
pub(crate) fn item_on(
    c: &mut impl postgres::GenericClient,
    id: i64,
    lock: bool,
) -> Result<Option<OutboxItem>> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    Ok(c.query_opt(&sql, &[&id])?.as_ref().map(item))
}

impl Outbox for PostgresStore {
    fn outbox_add(
        &self,
        topic: &str,
        dedupe_key: &str,
        target: &str,
        payload: &str,
        now: Millis,
    ) -> Result<bool> {
        outbox::check_add(topic, dedupe_key, target, payload)?;
        let n = self.lock()?.execute(
            "INSERT INTO outbox (topic, dedupe_key, target, payload, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (dedupe_key) DO NOTHING",
            &[&topic, &dedupe_key, &target, &payload, &now],
        )?;
        Ok(n == 1)
    }

    fn outbox_due(&self, topic: &str, now: Millis, limit: usize) -> Result<Vec<OutboxItem>> {
        let limit = outbox::check_limit(limit)?;
        let rows = self.lock()?.query(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox
                 WHERE {PENDING} AND next_attempt_at <= $1 AND topic = $2
                 ORDER BY next_attempt_at, id LIMIT $3"
            ),
            &[&now, &topic, &limit],
        )?;
        Ok(rows.iter().map(item).collect())
    }

    fn outbox_claim(
        &self,
        topics: &[String],
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let limit = outbox::check_limit(limit)?;
        let until = now.saturating_add(lease_ms.max(1));
        let rows = self.lock()?.query(
            &format!(
                "UPDATE outbox SET claimed_until = $2
                 WHERE id IN (
                     SELECT id FROM outbox
                     WHERE {PENDING} AND next_attempt_at <= $1
                       AND (claimed_until IS NULL OR claimed_until < $1)
                       AND topic = ANY($3)
                     ORDER BY next_attempt_at, id LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING {OUTBOX_COLUMNS}"
            ),
            &[&now, &until, &topics, &limit],
        )?;
        let mut items: Vec<OutboxItem> = rows.iter().map(item).collect();
        items.sort_by_key(|i| (i.next_attempt_at, i.id));
        Ok(items)
    }

    fn outbox_delivered(&self, id: i64, now: Millis) -> Result<bool> {
        let n = self.lock()?.execute(
            &format!("UPDATE outbox SET delivered_at = $2 WHERE id = $1 AND {PENDING}"),
            &[&id, &now],
        )?;
        Ok(n == 1)
    }

    fn outbox_retry(&self, id: i64, next_attempt_at: Millis, error: &str) -> Result<bool> {
        let error = outbox::clean_error(error);
        let n = self.lock()?.execute(
            &format!(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3,
                     claimed_until = NULL
                 WHERE id = $1 AND {PENDING}"
            ),
            &[&id, &next_attempt_at, &error],
        )?;
        Ok(n == 1)
    }

    fn outbox_give_up(&self, id: i64, now: Millis, error: &str) -> Result<bool> {
        let error = outbox::clean_error(error);
        let n = self.lock()?.execute(
            &format!(
                "UPDATE outbox SET attempts = attempts + 1, gave_up_at = $2, last_error = $3
                 WHERE id = $1 AND {PENDING}"
            ),
            &[&id, &now, &error],
        )?;
        Ok(n == 1)
    }

    fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>> {
        let row = self
            .lock()?
            .query_opt(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1"), &[&id])?;
        Ok(row.as_ref().map(item))
    }

    fn outbox_find(&self, q: &OutboxQuery) -> Result<Vec<OutboxItem>> {
        let (_, range) = q.checked()?;
        let (from, to) = range.unzip();
        let rows = self.lock()?.query(
            &format!(
                r#"SELECT {OUTBOX_COLUMNS} FROM outbox
                 WHERE id > $1
                   AND (cardinality($2::TEXT[]) = 0 OR dedupe_key = ANY($2))
                   AND ($3::TEXT IS NULL OR (dedupe_key COLLATE "C" >= $3
                                              AND dedupe_key COLLATE "C" < $4::TEXT))
                   AND (NOT $5 OR (delivered_at IS NULL AND gave_up_at IS NULL))
                 ORDER BY id LIMIT $6"#
            ),
            &[&q.after, &q.keys, &from, &to, &q.pending_only, &(q.limit as i64)],
        )?;
        Ok(rows.iter().map(item).collect())
    }

    fn outbox_counts(&self) -> Result<OutboxCounts> {
        let r = self.lock()?.query_one(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND gave_up_at IS NULL),
                    COUNT(*) FILTER (WHERE delivered_at IS NOT NULL),
                    COUNT(*) FILTER (WHERE delivered_at IS NULL AND gave_up_at IS NOT NULL)
             FROM outbox",
            &[],
        )?;
        let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
        Ok(OutboxCounts { pending: n(0), delivered: n(1), gave_up: n(2) })
    }
}
