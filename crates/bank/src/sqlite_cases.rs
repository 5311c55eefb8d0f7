//! [`Cases`] on the embedded SQLite store: writes on the writer connection (each one
//! `BEGIN IMMEDIATE` transaction with its audit record), reads on the read pool.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;
use spoor_audit::NewRecord;

use crate::cases::{
    self, annotations_text, Case, CaseMatch, CaseQuery, CaseState, Cases, DecidedPdq, Effects,
    NewCase, NewDecision, Notify, Opening, Outcome, RawCase, RawDecision, ReviewView, CASE_COLUMNS,
    MAX_CASE_PAGE,
};
use crate::model::Millis;
use crate::{check_actor, BankError, Result, SqliteStore};

fn raw_case(r: &Row<'_>) -> rusqlite::Result<RawCase> {
    Ok(RawCase {
        id: r.get(0)?,
        created_at: r.get(1)?,
        submitter: r.get(2)?,
        reason: r.get(3)?,
        service: r.get(4)?,
        content_ref: r.get(5)?,
        uploader_ref: r.get(6)?,
        uploaded_at: r.get(7)?,
        upload_ip: r.get(8)?,
        media_kind: r.get(9)?,
        media_id: r.get(10)?,
        media_bytes: r.get(11)?,
        media_purged_at: r.get(12)?,
        md5: r.get(13)?,
        sha1: r.get(14)?,
        sha256: r.get(15)?,
        pdq: r.get(16)?,
        pdq_quality: r.get(17)?,
        state: r.get(18)?,
        queue: r.get(19)?,
        lease_holder: r.get(20)?,
        lease_until: r.get(21)?,
        resolution: r.get(22)?,
        earlier_case: r.get(23)?,
        category: r.get(24)?,
        industry_class: r.get(25)?,
        annotations: r.get(26)?,
        decided_at: r.get(27)?,
        decided_by: r.get(28)?,
        publicly_available: r.get(29)?,
        no_inform_until: r.get(30)?,
        no_inform_reason: r.get(31)?,
        reversed_at: r.get(32)?,
        reversed_by: r.get(33)?,
        reversed_complaint: r.get(34)?,
        hold_until: r.get(35)?,
        hold_reason: r.get(36)?,
        hold_by: r.get(37)?,
        personal_purged_at: r.get(38)?,
    })
}

impl SqliteStore {
    /// A case with its matches and decisions, read on `conn`.
    pub(crate) fn case_on(&self, conn: &Connection, id: i64) -> Result<Case> {
        let raw = conn
            .prepare_cached(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], raw_case).optional())
            .map_err(|e| self.err(e))?
            .ok_or(BankError::NoSuchCase(id))?;
        self.complete(conn, raw.into_case()?)
    }

    /// Adds a case's matches and decisions.
    fn complete(&self, conn: &Connection, mut case: Case) -> Result<Case> {
        let matches = conn
            .prepare_cached(
                "SELECT b.name, m.entry_id, m.signal_type, m.distance
                 FROM case_matches m JOIN banks b ON b.id = m.bank_id
                 WHERE m.case_id = ?1 ORDER BY m.distance, m.entry_id",
            )
            .and_then(|mut s| {
                s.query_map([case.id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        for (bank, entry_id, t, distance) in matches {
            case.matches.push(CaseMatch {
                bank,
                entry_id,
                signal_type: t.parse().map_err(|e| {
                    BankError::Invalid(format!("the database holds a bad signal type: {e}"))
                })?,
                distance: distance.clamp(0, 256) as u32,
            });
        }
        let decisions = conn
            .prepare_cached(
                "SELECT id, at, person, verdict, category, industry_class, annotations, entry_id,
                        note
                 FROM case_decisions WHERE case_id = ?1 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([case.id], |r| {
                    Ok(RawDecision {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        person: r.get(2)?,
                        verdict: r.get(3)?,
                        category: r.get(4)?,
                        industry_class: r.get(5)?,
                        annotations: r.get(6)?,
                        entry_id: r.get(7)?,
                        note: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        for d in decisions {
            case.decisions.push(d.into_decision()?);
        }
        Ok(case)
    }

    /// Inserts one case and its matches in `tx`.
    fn insert_case(&self, tx: &Connection, new: &NewCase, now: Millis) -> Result<Case> {
        let earlier = match &new.start {
            cases::Start::Earlier(id) | cases::Start::Follow(id) => Some(self.case_on(tx, *id)?),
            _ => None,
        };
        let o = Opening::of(&new.start, earlier.as_ref())?;
        let m = &new.meta;
        let s = &new.signals;
        tx.prepare_cached(
            "INSERT INTO cases (created_at, submitter, reason, service, content_ref,
                 uploader_ref, uploaded_at, upload_ip, media_kind, media_id, media_bytes,
                 md5, sha1, sha256, pdq, pdq_quality, state, queue, resolution,
                 earlier_case, category, industry_class, annotations, decided_at,
                 decided_by, publicly_available, technologies)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
        )
        .and_then(|mut st| {
            st.execute(params![
                now,
                new.submitter,
                m.reason.map(|r| r.name()),
                m.service,
                m.content_ref,
                m.uploader_ref,
                m.uploaded_at,
                m.upload_ip,
                new.media_kind.name(),
                new.media.as_ref().map(|x| x.id.as_str()),
                new.media.as_ref().map(|x| x.bytes as i64),
                s.md5.as_ref().map(|v| &v[..]),
                s.sha1.as_ref().map(|v| &v[..]),
                s.sha256.as_ref().map(|v| &v[..]),
                s.pdq.as_ref().map(|v| &v[..]),
                s.pdq_quality,
                o.state.name(),
                o.queue,
                o.resolution.map(|r| r.name()),
                o.earlier,
                o.category.map(|c| c.name()),
                o.industry_class.map(|c| c.name()),
                annotations_text(&o.annotations),
                o.decided_by.map(|_| now),
                o.decided_by,
                m.publicly_available,
                crate::statistics::technologies(
                    new.matches.iter().map(|x| (x.signal_type.name(), x.distance))
                ),
            ])
        })
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        for x in &new.matches {
            let bank: i64 = tx
                .query_row("SELECT id FROM banks WHERE name = ?1", [&x.bank], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))?
                .ok_or_else(|| BankError::NoSuchBank(x.bank.clone()))?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO case_matches (case_id, bank_id, entry_id,
                     signal_type, distance)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![id, bank, x.entry_id, x.signal_type.name(), x.distance])
            })
            .map_err(|e| self.err(e))?;
        }
        self.case_on(tx, id)
    }

    /// Whether any bank the case matched asks for two reviewers.
    fn four_eyes_on(&self, conn: &Connection, id: i64) -> Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM case_matches m JOIN banks b ON b.id = m.bank_id
                            WHERE m.case_id = ?1 AND b.four_eyes)",
            [id],
            |r| r.get(0),
        )
        .map_err(|e| self.err(e))
    }
}

impl Cases for SqliteStore {
    fn create_cases_notifying(&self, new: &[NewCase], notify: Notify<'_>) -> Result<Vec<Case>> {
        for n in new {
            cases::check_new(n)?;
        }
        let now = crate::model::now_ms();
        self.people_write(|tx| {
            let mut out = Vec::with_capacity(new.len());
            let mut head = crate::sqlite_store::audit_head_in(self, tx)?;
            for n in new {
                let case = self.insert_case(tx, n, now)?;
                let r = spoor_audit::Record::seal(head, now, &cases::create_audit(&case))
                    .map_err(|e| BankError::Invalid(e.to_string()))?;
                crate::sqlite_store::insert_audit_in(self, tx, &r)?;
                head = Some((r.seq, r.hash));
                self.send_in(tx, case.id, notify(&case), now)?;
                out.push(case);
            }
            Ok(out)
        })
    }

    fn case(&self, id: i64) -> Result<Case> {
        let conn = self.read()?;
        self.case_on(&conn, id)
    }

    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>> {
        let limit = q.limit.min(MAX_CASE_PAGE) as i64;
        let conn = self.read()?;
        let raws = conn
            .prepare_cached(&format!(
                "SELECT {CASE_COLUMNS} FROM cases
                 WHERE id > ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR submitter = ?3)
                 ORDER BY id LIMIT ?4"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![q.after, q.state.map(|s| s.name()), q.submitter, limit],
                    raw_case,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        raws.into_iter().map(|r| self.complete(&conn, r.into_case()?)).collect()
    }

    fn review_view(&self, user_id: i64) -> Result<ReviewView> {
        let conn = self.read()?;
        let row: Option<(i64, bool)> = conn
            .prepare_cached("SELECT blur, colour FROM review_views WHERE user_id = ?1")
            .and_then(|mut s| s.query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))?;
        Ok(row.map_or_else(ReviewView::default, |(blur, colour)| ReviewView {
            blur: u8::try_from(blur).unwrap_or(cases::STRONGEST_BLUR),
            colour,
        }))
    }

    fn set_review_view(
        &self,
        user_id: i64,
        actor: &str,
        view: ReviewView,
        now: Millis,
    ) -> Result<()> {
        check_actor(actor)?;
        view.check()?;
        self.people_write_audited(
            |tx| {
                let n = tx
                    .execute(
                        "INSERT INTO review_views (user_id, blur, colour, set_at)
                         SELECT id, ?2, ?3, ?4 FROM users WHERE id = ?1
                         ON CONFLICT (user_id) DO UPDATE
                             SET blur = excluded.blur, colour = excluded.colour,
                                 set_at = excluded.set_at",
                        params![user_id, view.blur, view.colour, now],
                    )
                    .map_err(|e| self.err(e))?;
                if n == 0 {
                    return Err(crate::people::no_such_user_id(user_id));
                }
                Ok(())
            },
            |_| cases::review_view_audit(actor, user_id, view),
        )
    }

    fn claim_next_case(
        &self,
        queue: &str,
        person: &str,
        now: Millis,
        lease_ms: Millis,
    ) -> Result<Option<Case>> {
        cases::check_queue(queue)?;
        check_actor(person)?;
        let until = now.saturating_add(lease_ms.max(1));
        let mut renewed = false;
        let claimed = self.people_write(|tx| {
            let held: Option<i64> = tx
                .query_row(
                    "SELECT id FROM cases INDEXED BY cases_held
                     WHERE queue = ?1 AND state IN ('queued', 'second_review', 'escalated')
                       AND lease_holder = ?2 AND lease_until > ?3
                     ORDER BY id LIMIT 1",
                    params![queue, person, now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let id = match held {
                Some(id) => {
                    renewed = true;
                    Some(id)
                }
                None => tx
                    .prepare_cached(
                        "SELECT c.id FROM cases c INDEXED BY cases_open
                         WHERE c.queue = ?1
                           AND c.state IN ('queued', 'second_review', 'escalated')
                           AND (c.lease_until IS NULL OR c.lease_until <= ?2)
                           AND NOT (c.state = 'second_review' AND EXISTS (
                               SELECT 1 FROM case_decisions d
                               WHERE d.case_id = c.id AND d.person = ?3))
                         ORDER BY c.id LIMIT 1",
                    )
                    .and_then(|mut s| s.query_row(params![queue, now, person], |r| r.get(0)))
                    .optional()
                    .map_err(|e| self.err(e))?,
            };
            let Some(id) = id else { return Ok(None) };
            tx.execute(
                "UPDATE cases SET lease_holder = ?1, lease_until = ?2 WHERE id = ?3",
                params![person, until, id],
            )
            .map_err(|e| self.err(e))?;
            let case = self.case_on(tx, id)?;
            let rec = NewRecord::by(person, "case_claim", "case", &id.to_string()).with_details(
                json!({"queue": queue, "until": until, "renewed": renewed, "state": case.state.name()}),
            );
            let head = crate::sqlite_store::audit_head_in(self, tx)?;
            let r = spoor_audit::Record::seal(head, crate::model::now_ms(), &rec)
                .map_err(|e| BankError::Invalid(e.to_string()))?;
            crate::sqlite_store::insert_audit_in(self, tx, &r)?;
            Ok(Some(case))
        })?;
        Ok(claimed)
    }

    fn release_case(&self, id: i64, person: &str, now: Millis) -> Result<Case> {
        check_actor(person)?;
        self.people_write_audited(
            |tx| {
                let case = self.case_on(tx, id)?;
                if case.holder(now) != Some(person) {
                    return Err(BankError::Conflict(format!(
                        "case {id} is not held by you: nothing to release"
                    )));
                }
                tx.execute(
                    "UPDATE cases SET lease_holder = NULL, lease_until = NULL WHERE id = ?1",
                    [id],
                )
                .map_err(|e| self.err(e))?;
                self.case_on(tx, id)
            },
            |c| {
                NewRecord::by(person, "case_release", "case", &id.to_string())
                    .with_details(json!({"queue": c.queue, "state": c.state.name()}))
            },
        )
    }

    fn decide_case_notifying(
        &self,
        id: i64,
        person: &str,
        d: &NewDecision,
        now: Millis,
        require_lease: bool,
        notify: Notify<'_>,
    ) -> Result<Case> {
        check_actor(person)?;
        self.people_write_audited(
            |tx| {
                let case = self.case_on(tx, id)?;
                cases::check_holder(&case, person, now, require_lease)?;
                let four_eyes = self.four_eyes_on(tx, id)?;
                let next = cases::transition(&case, person, d, four_eyes)?;
                tx.execute(
                    "INSERT INTO case_decisions (case_id, at, person, verdict, category,
                         industry_class, annotations, note, entry_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        now,
                        person,
                        d.verdict.map(|v| v.name()),
                        d.category.map(|c| c.name()),
                        d.industry_class.map(|c| c.name()),
                        annotations_text(&d.annotations),
                        d.note,
                        d.entry_id,
                    ],
                )
                .map_err(|e| self.err(e))?;
                if next.closes {
                    tx.execute(
                        "UPDATE cases SET state = ?1, queue = ?2, lease_holder = NULL,
                             lease_until = NULL, resolution = 'review', category = ?3,
                             industry_class = ?4, annotations = ?5, decided_at = ?6,
                             decided_by = ?7
                         WHERE id = ?8",
                        params![
                            next.state.name(),
                            next.queue,
                            d.category.map(|c| c.name()),
                            d.industry_class.map(|c| c.name()),
                            annotations_text(&d.annotations),
                            now,
                            person,
                            id
                        ],
                    )
                } else {
                    tx.execute(
                        "UPDATE cases SET state = ?1, queue = ?2, lease_holder = NULL,
                             lease_until = NULL
                         WHERE id = ?3",
                        params![next.state.name(), next.queue, id],
                    )
                }
                .map_err(|e| self.err(e))?;
                let decided = self.case_on(tx, id)?;
                self.send_in(tx, decided.id, notify(&decided), now)?;
                if next.closes {
                    self.decide_followers(tx, &decided, now, notify)?;
                }
                Ok(decided)
            },
            |c| cases::decision_audit(person, c, d),
        )
    }

    fn set_no_inform(
        &self,
        id: i64,
        until: Option<Millis>,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<Case> {
        check_actor(actor)?;
        cases::check_no_inform(until, reason, now)?;
        self.people_write_audited(
            |tx| {
                let n = tx
                    .execute(
                        "UPDATE cases SET no_inform_until = ?2, no_inform_reason = ?3 WHERE id = ?1",
                        params![id, until, until.map(|_| reason)],
                    )
                    .map_err(|e| self.err(e))?;
                if n == 0 {
                    return Err(BankError::NoSuchCase(id));
                }
                // A notice not yet sent waits for the new end (or goes now when lifted).
                tx.execute(
                    "UPDATE outbox SET not_before = ?2,
                         next_attempt_at = CASE WHEN ?2 IS NULL THEN MIN(next_attempt_at, ?3)
                                                ELSE MAX(next_attempt_at, ?2) END
                     WHERE dedupe_key = ?1 AND delivered_at IS NULL AND gave_up_at IS NULL",
                    params![cases::notice_key(id), until, now],
                )
                .map_err(|e| self.err(e))?;
                self.case_on(tx, id)
            },
            |c| cases::no_inform_audit(actor, c),
        )
    }

    fn open_case_by_sha256(&self, sha256: &[u8; 32]) -> Result<Option<i64>> {
        let conn = self.read()?;
        conn.prepare_cached(
            "SELECT id FROM cases INDEXED BY cases_open_sha256
             WHERE sha256 = ?1 AND state IN ('queued', 'second_review', 'escalated')
               AND sha256 IS NOT NULL
             ORDER BY id LIMIT 1",
        )
        .and_then(|mut s| s.query_row([&sha256[..]], |r| r.get(0)).optional())
        .map_err(|e| self.err(e))
    }

    fn decided_case_by_sha256(&self, sha256: &[u8; 32]) -> Result<Option<Case>> {
        let conn = self.read()?;
        let id: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM cases INDEXED BY cases_decided_sha256
                 WHERE sha256 = ?1 AND decided_at IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row([&sha256[..]], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))?;
        id.map(|id| self.case_on(&conn, id)).transpose()
    }

    fn decided_pdqs(&self, at: Millis, id: i64, limit: usize) -> Result<Vec<DecidedPdq>> {
        let conn = self.read()?;
        let rows = conn
            .prepare_cached(
                "SELECT decided_at, id, pdq FROM cases INDEXED BY cases_decided_pdq
                 WHERE decided_at IS NOT NULL AND pdq IS NOT NULL
                   AND (decided_at > ?1 OR (decided_at = ?1 AND id > ?2))
                 ORDER BY decided_at, id LIMIT ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![at, id, limit.min(1 << 20) as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(at, id, v)| Ok((at, id, cases::fixed::<32>(Some(v))?.unwrap_or([0; 32]))))
            .collect()
    }

    fn media_to_purge(
        &self,
        decided_before: Millis,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<(i64, String)>> {
        let conn = self.read()?;
        conn.prepare_cached(
            "SELECT id, media_id FROM cases INDEXED BY cases_held_media
             WHERE media_id IS NOT NULL AND decided_at IS NOT NULL AND decided_at < ?1
               AND NOT EXISTS (SELECT 1 FROM report_cases rc JOIN reports r ON r.id = rc.report_id
                               WHERE rc.case_id = cases.id AND r.state <> 'finished')
               AND NOT EXISTS (SELECT 1 FROM complaints k
                               WHERE k.case_id = cases.id AND k.state = 'open')
               AND (hold_until IS NULL OR hold_until <= ?3)
             ORDER BY decided_at LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![decided_before, limit as i64, now], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| self.err(e))
    }

    fn media_purged(&self, id: i64, at: Millis) -> Result<()> {
        self.people_write(|tx| {
            tx.execute(
                "UPDATE cases SET media_id = NULL, media_purged_at = ?1
                 WHERE id = ?2 AND media_id IS NOT NULL",
                params![at, id],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn case_outcomes(&self, bank: Option<&str>, entry: Option<i64>) -> Result<Vec<Outcome>> {
        let conn = self.read()?;
        let rows = conn
            .prepare_cached(&cases::outcomes_sql("?1", "?2"))
            .and_then(|mut s| {
                s.query_map(params![bank, entry], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(cases::outcome_from).collect()
    }

    fn open_case_counts(&self) -> Result<Vec<(String, CaseState, u64)>> {
        let conn = self.read()?;
        let rows = conn
            .prepare_cached(
                "SELECT queue, state, COUNT(*) FROM cases INDEXED BY cases_open
                 WHERE state IN ('queued', 'second_review', 'escalated')
                 GROUP BY queue, state ORDER BY queue, state",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(q, s, n)| Ok((q, cases::parse_stored(&s)?, n.max(0) as u64)))
            .collect()
    }
}

impl SqliteStore {
    /// Gives a lead's decision to the cases following it, each with its audit record and
    /// message.
    fn decide_followers(
        &self,
        tx: &rusqlite::Transaction<'_>,
        lead: &Case,
        now: Millis,
        notify: Notify<'_>,
    ) -> Result<()> {
        let ids: Vec<i64> = tx
            .prepare_cached(
                "SELECT id FROM cases INDEXED BY cases_following
                 WHERE earlier_case = ?1 AND state = 'following' ORDER BY id",
            )
            .and_then(|mut st| {
                st.query_map([lead.id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()
            })
            .map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE cases SET state = ?1, resolution = 'earlier', category = ?2,
                 industry_class = ?3, annotations = ?4, decided_at = ?5,
                 decided_by = 'system:earlier'
             WHERE earlier_case = ?6 AND state = 'following'",
            params![
                lead.state.name(),
                lead.category.map(|c| c.name()),
                lead.industry_class.map(|c| c.name()),
                annotations_text(&lead.annotations),
                now,
                lead.id
            ],
        )
        .map_err(|e| self.err(e))?;
        let mut head = crate::sqlite_store::audit_head_in(self, tx)?;
        for id in ids {
            let follower = self.case_on(tx, id)?;
            let r = spoor_audit::Record::seal(head, now, &cases::followed_audit(&follower, lead))
                .map_err(|e| BankError::Invalid(e.to_string()))?;
            crate::sqlite_store::insert_audit_in(self, tx, &r)?;
            head = Some((r.seq, r.hash));
            self.send_in(tx, follower.id, notify(&follower), now)?;
        }
        Ok(())
    }

    /// Stores a case's effects within `tx`: its messages ([`SqliteStore::messages_in`]) and
    /// its reports.
    fn send_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        case_id: i64,
        effects: Effects,
        now: Millis,
    ) -> Result<()> {
        self.messages_in(tx, effects.messages, now)?;
        for r in &effects.reports {
            self.report_in(tx, case_id, r, now)?;
        }
        Ok(())
    }

    /// Stores messages in the outbox within `tx` (nothing for a message whose dedupe key is
    /// there already).
    pub(crate) fn messages_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        messages: Vec<cases::Message>,
        now: Millis,
    ) -> Result<()> {
        for m in messages {
            crate::outbox::check_add(&m.topic, &m.dedupe_key, &m.target, &m.payload)?;
            tx.execute(
                "INSERT INTO outbox (topic, dedupe_key, target, payload, created_at,
                                     next_attempt_at, not_before)
                 VALUES (?1, ?2, ?3, ?4, ?5, MAX(?5, COALESCE(?6, ?5)), ?6)
                 ON CONFLICT (dedupe_key) DO NOTHING",
                params![m.topic, m.dedupe_key, m.target, m.payload, now, m.not_before],
            )
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}
