//! [`Exchanges`] on the PostgreSQL store: each call one transaction on a pooled connection.
//! Exchanges are not part of the bank change log, so these writes do not take its advisory
//! lock; the lease is one conditional `UPDATE`, so two replicas never hold it at once.

use postgres::Row;
use spoor_audit::NewRecord;

use crate::exchange::{
    self, audit_details, check_new, Conflict, ConflictRecord, Exchange, ExchangeKey, Exchanges,
    NewExchange, Position, Run,
};
use crate::model::{now_ms, Millis};
use crate::{check_actor, BankError, PostgresStore, Result};

fn exchange_from_row(r: &Row) -> Exchange {
    Exchange {
        name: r.get(0),
        source_url: r.get(1),
        remote_bank: r.get(2),
        local_bank: r.get(3),
        key: ExchangeKey(r.get(4)),
        interval_ms: r.get::<_, i64>(5).max(0) as u64,
        page: r.get::<_, i64>(6).clamp(1, i64::from(exchange::MAX_PAGE)) as u32,
        created_by: r.get(7),
        created_at: r.get(8),
        position: r.get(9),
        remote_last_seq: r.get(10),
        last_attempt_at: r.get(11),
        last_success_at: r.get(12),
        last_error: r.get(13),
        failures: r.get(14),
        added: r.get(15),
        changed: r.get(16),
        conflicts: r.get(17),
        pulling_since: r.get(18),
        leased_until: r.get(19),
    }
}

impl Exchanges for PostgresStore {
    fn create_exchange(&self, x: &NewExchange, actor: &str) -> Result<Exchange> {
        check_new(x)?;
        check_actor(actor)?;
        let now = now_ms();
        self.people_write_audited(
            |tx| {
                if tx.query_opt("SELECT id FROM banks WHERE name = $1", &[&x.local_bank])?.is_none()
                {
                    return Err(BankError::NoSuchBank(x.local_bank.clone()));
                }
                let pulled = tx
                    .query_opt(
                        "SELECT source_url, remote_bank, local_bank FROM exchange_positions
                         WHERE name = $1",
                        &[&x.name],
                    )?
                    .map(|r| (r.get(0), r.get(1), r.get(2)));
                exchange::check_same_source(x, pulled)?;
                let n = tx.execute(
                    "INSERT INTO exchanges (name, source_url, remote_bank, local_bank, api_key,
                         interval_ms, page, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (name) DO NOTHING",
                    &[
                        &x.name,
                        &x.source_url,
                        &x.remote_bank,
                        &x.local_bank,
                        &x.key.0,
                        &(x.interval_ms as i64),
                        &i64::from(x.page),
                        &actor,
                        &now,
                    ],
                )?;
                if n == 0 {
                    return Err(BankError::Conflict(format!(
                        "an exchange named {:?} exists already: choose another name, or remove \
                         it first (`spoor exchange remove`)",
                        x.name
                    )));
                }
                Ok(())
            },
            |_| {
                NewRecord::by(actor, "exchange_create", "exchange", &x.name)
                    .with_details(audit_details(x))
            },
        )?;
        self.exchange(&x.name)
    }

    fn delete_exchange(&self, name: &str, actor: &str) -> Result<()> {
        check_actor(actor)?;
        self.people_write_audited(
            |tx| {
                if tx.execute("DELETE FROM exchanges WHERE name = $1", &[&name])? == 0 {
                    return Err(BankError::NoSuchExchange(name.to_string()));
                }
                tx.execute("DELETE FROM exchange_positions WHERE name = $1", &[&name])?;
                tx.execute("DELETE FROM exchange_conflicts WHERE exchange = $1", &[&name])?;
                Ok(())
            },
            |_| NewRecord::by(actor, "exchange_delete", "exchange", name),
        )
    }

    fn exchanges(&self) -> Result<Vec<Exchange>> {
        Ok(self
            .lock()?
            .query(&format!("{} ORDER BY x.name", exchange::exchanges_query()), &[])?
            .iter()
            .map(exchange_from_row)
            .collect())
    }

    fn exchange(&self, name: &str) -> Result<Exchange> {
        self.lock()?
            .query_opt(&format!("{} WHERE x.name = $1", exchange::exchanges_query()), &[&name])?
            .map(|r| exchange_from_row(&r))
            .ok_or_else(|| BankError::NoSuchExchange(name.to_string()))
    }

    fn exchange_ran(&self, name: &str, run: &Run) -> Result<()> {
        self.lock()?.execute(
            "UPDATE exchanges SET
                 last_attempt_at = $2,
                 last_success_at = CASE WHEN $3::TEXT IS NULL THEN $2 ELSE last_success_at END,
                 last_error = $3,
                 failures = CASE WHEN $3::TEXT IS NULL THEN 0 ELSE failures + 1 END,
                 remote_last_seq = COALESCE($4, remote_last_seq),
                 added = added + $5,
                 changed = changed + $6
             WHERE name = $1",
            &[
                &name,
                &run.at,
                &run.error,
                &run.remote_last_seq,
                &(run.added as i64),
                &(run.changed as i64),
            ],
        )?;
        Ok(())
    }

    fn add_exchange_conflicts(&self, name: &str, conflicts: &[Conflict], at: Millis) -> Result<()> {
        if conflicts.is_empty() {
            return Ok(());
        }
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let stmt = tx.prepare(
            "INSERT INTO exchange_conflicts (exchange, remote_seq, entry_id, at, message)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (exchange, remote_seq) DO NOTHING",
        )?;
        for c in conflicts {
            tx.execute(&stmt, &[&name, &c.remote_seq, &c.entry_id, &at, &c.message])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn exchange_conflicts(
        &self,
        name: &str,
        before: i64,
        limit: usize,
    ) -> Result<Vec<ConflictRecord>> {
        let before = if before <= 0 { i64::MAX } else { before };
        Ok(self
            .lock()?
            .query(
                "SELECT id, at, remote_seq, entry_id, message FROM exchange_conflicts
                 WHERE exchange = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                &[&name, &before, &(limit as i64)],
            )?
            .iter()
            .map(|r| ConflictRecord {
                id: r.get(0),
                at: r.get(1),
                conflict: Conflict { remote_seq: r.get(2), entry_id: r.get(3), message: r.get(4) },
            })
            .collect())
    }

    fn lease_exchange(&self, name: &str, holder: &str, now: Millis, until: Millis) -> Result<bool> {
        let n = self.lock()?.execute(
            "UPDATE exchanges SET lease_holder = $2, lease_until = $4,
                 lease_since = CASE WHEN lease_holder = $2 AND lease_until > $3
                                    THEN lease_since ELSE $3 END
             WHERE name = $1 AND (lease_until <= $3 OR lease_holder = $2)",
            &[&name, &holder, &now, &until],
        )?;
        Ok(n == 1)
    }

    fn exchange_position(&self, name: &str) -> Result<Option<Position>> {
        Ok(self
            .lock()?
            .query_opt(
                "SELECT name, source_url, remote_bank, local_bank, position, updated_at
                 FROM exchange_positions WHERE name = $1",
                &[&name],
            )?
            .map(|r| Position {
                name: r.get(0),
                source_url: r.get(1),
                remote_bank: r.get(2),
                local_bank: r.get(3),
                position: r.get(4),
                updated_at: r.get(5),
            }))
    }

    fn set_exchange_position(&self, p: &Position) -> Result<()> {
        self.lock()?.execute(
            "INSERT INTO exchange_positions
                 (name, source_url, remote_bank, local_bank, position, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET source_url = $2, remote_bank = $3,
                 local_bank = $4, position = $5, updated_at = $6",
            &[&p.name, &p.source_url, &p.remote_bank, &p.local_bank, &p.position, &p.updated_at],
        )?;
        Ok(())
    }
}
