//! [`Retention`] on the embedded SQLite store: a run is one writer transaction with its audit
//! record.

use rusqlite::params;

use crate::cases::Case;
use crate::model::Millis;
use crate::retention::{self, Policy, Retention, RetentionCounts};
use crate::{check_actor, BankError, Result, SqliteStore};

impl Retention for SqliteStore {
    fn retention_apply(
        &self,
        policy: &Policy,
        session_max_age_ms: Millis,
        now: Millis,
        dry_run: bool,
        media: u64,
        actor: &str,
    ) -> Result<RetentionCounts> {
        check_actor(actor)?;
        policy.check()?;
        self.people_write_audited(
            |tx| {
                let mut n = Vec::new();
                for class in retention::statements("?1", "?2") {
                    let cut = match (class.days)(policy) {
                        Some(d) => Policy::cutoff(now, d),
                        None => now.saturating_sub(session_max_age_ms),
                    };
                    let changed = if dry_run {
                        tx.query_row(&class.count, params![now, cut], |r| r.get::<_, i64>(0))
                            .map_err(|e| self.err(e))?
                            .max(0) as u64
                    } else {
                        tx.execute(&class.apply, params![now, cut]).map_err(|e| self.err(e))? as u64
                    };
                    n.push(changed);
                }
                let cut = Policy::cutoff(now, policy.case_personal_days);
                let held: i64 = tx
                    .query_row(&retention::held_back_sql("?1", "?2"), params![now, cut], |r| {
                        r.get(0)
                    })
                    .map_err(|e| self.err(e))?;
                Ok(retention::counts_of(&n, media, held.max(0) as u64))
            },
            |c| retention::run_audit(actor, policy, c, now, dry_run),
        )
    }

    fn media_past_retention(
        &self,
        made_before: Millis,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<(i64, String)>> {
        let conn = self.read()?;
        conn.prepare_cached(&format!(
            "SELECT c.id, c.media_id FROM cases AS c INDEXED BY cases_media_by_age
             WHERE c.media_id IS NOT NULL AND c.created_at < ?1 AND {}
             ORDER BY c.created_at, c.id LIMIT ?3",
            retention::releasable("?2")
        ))
        .and_then(|mut s| {
            s.query_map(params![made_before, now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| self.err(e))
    }

    fn set_legal_hold(
        &self,
        id: i64,
        until: Option<Millis>,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<Case> {
        check_actor(actor)?;
        retention::check_hold(until, reason, now)?;
        self.people_write_audited(
            |tx| {
                let n = tx
                    .execute(
                        "UPDATE cases SET hold_until = ?2, hold_reason = ?3, hold_by = ?4
                         WHERE id = ?1",
                        params![id, until, until.map(|_| reason), until.map(|_| actor)],
                    )
                    .map_err(|e| self.err(e))?;
                if n == 0 {
                    return Err(BankError::NoSuchCase(id));
                }
                self.case_on(tx, id)
            },
            |c| retention::hold_audit(actor, c.id, until, reason),
        )
    }
}
