//! [`People`] on the PostgreSQL store: each call one transaction on a pooled connection.
//! People and sessions are not part of the bank change log, so these writes do not take the
//! change log's advisory lock; conditional `UPDATE`s make each step atomic on its own.

use postgres::{GenericClient, Row, Transaction};
use serde_json::json;
use spoor_audit::NewRecord;

use crate::model::{now_ms, Millis};
use crate::people::{
    self, FailedLogin, People, PersonRole, Session, SessionLimits, SessionLookup, User,
    UserDisabled, SESSION_COLUMNS, USER_COLUMNS,
};
use crate::sqlite_people::{create_details, disabled_for_good, not_in_setup, queues_record};
use crate::{check_actor, check_reason, BankError, PostgresStore, Result};

fn user_from_row(r: &Row) -> Result<User> {
    let role: String = r.get(2);
    let role: PersonRole = role
        .parse()
        .map_err(|e| BankError::Invalid(format!("the database holds an invalid value: {e}")))?;
    let disabled = match (r.get::<_, Option<Millis>>(11), r.get::<_, Option<String>>(12)) {
        (Some(at), Some(by)) => Some(UserDisabled {
            by,
            at,
            reason: r.get::<_, Option<String>>(13).unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(User {
        id: r.get(0),
        name: r.get(1),
        role,
        password_hash: r.get(3),
        password_set_at: r.get(4),
        totp_secret: r.get(5),
        totp_enrolled_at: r.get(6),
        totp_last_step: r.get(7),
        setup_expires_at: r.get(8),
        failed_logins: r.get::<_, i32>(9).max(0) as u32,
        locked_until: r.get(10),
        disabled,
        created_at: r.get(14),
        created_by: r.get(15),
        queues: people::queues_from_text(r.get(16)),
    })
}

fn session_from_row(r: &Row) -> Session {
    Session {
        user_id: r.get(0),
        csrf_token: r.get(1),
        created_at: r.get(2),
        last_seen_at: r.get(3),
        address: r.get(4),
        user_agent: r.get(5),
    }
}

fn user_by_name(c: &mut impl GenericClient, name: &str) -> Result<Option<User>> {
    c.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"), &[&name])?
        .map(|r| user_from_row(&r))
        .transpose()
}

fn user_in(c: &mut impl GenericClient, name: &str) -> Result<User> {
    user_by_name(c, name)?.ok_or_else(|| people::no_such_user(name))
}

fn user_id_in(c: &mut impl GenericClient, id: i64) -> Result<User> {
    c.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id])?
        .map(|r| user_from_row(&r))
        .transpose()?
        .ok_or_else(|| people::no_such_user_id(id))
}

impl PostgresStore {
    /// Runs `f` in one transaction.
    pub(crate) fn people_write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// A write of a person's account by someone (`actor`) and its audit record, in one
    /// transaction: both or neither.
    pub(crate) fn people_write_audited<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
        record: impl FnOnce(&T) -> spoor_audit::NewRecord,
    ) -> Result<T> {
        self.people_write(|tx| {
            let out = f(tx)?;
            let head = crate::postgres_store::audit_head_in(tx, true)?;
            let r = spoor_audit::Record::seal(head, now_ms(), &record(&out))
                .map_err(|e| BankError::Invalid(e.to_string()))?;
            crate::postgres_store::insert_audit_in(tx, &r)?;
            Ok(out)
        })
    }
}

impl People for PostgresStore {
    fn create_user_in_queues(
        &self,
        name: &str,
        role: PersonRole,
        queues: &[String],
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: Millis,
    ) -> Result<User> {
        people::check_name(name)?;
        check_actor(actor)?;
        let queues = people::check_queues(queues)?;
        let now = now_ms();
        people::check_expiry(setup_expires_at, now)?;
        self.people_write_audited(
            |tx| {
                let inserted = tx.execute(
                    "INSERT INTO users (name, role, setup_token_hash, setup_expires_at, created_at,
                                    created_by, queues)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (name) DO NOTHING",
                    &[
                        &name,
                        &role.name(),
                        &&setup_hash[..],
                        &setup_expires_at,
                        &now,
                        &actor,
                        &people::queues_text(&queues),
                    ],
                )?;
                if inserted == 0 {
                    return Err(BankError::Invalid(format!(
                        "a person named {name:?} exists already: choose another name, or `spoor \
                     users reset {name}` to give them a new setup link"
                    )));
                }
                user_in(tx, name)
            },
            |u| {
                NewRecord::by(actor, "user_create", "user", &u.name).with_details(create_details(u))
            },
        )
    }

    fn user(&self, name: &str) -> Result<User> {
        user_in(&mut *self.lock()?, name)
    }

    fn user_by_id(&self, id: i64) -> Result<User> {
        user_id_in(&mut *self.lock()?, id)
    }

    fn users(&self) -> Result<Vec<User>> {
        self.lock()?
            .query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"), &[])?
            .iter()
            .map(user_from_row)
            .collect()
    }

    fn user_by_setup_token(&self, setup_hash: &[u8; 32], now: Millis) -> Result<Option<User>> {
        let found = self
            .lock()?
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE setup_token_hash = $1"),
                &[&&setup_hash[..]],
            )?
            .map(|r| user_from_row(&r))
            .transpose()?;
        Ok(found.filter(|u| {
            u.disabled.is_none() && !u.setup_done() && u.setup_expires_at.is_some_and(|t| t > now)
        }))
    }

    fn set_password(&self, user_id: i64, password_hash: &str, now: Millis) -> Result<User> {
        people::check_password_hash(password_hash)?;
        self.people_write(|tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = $1, password_set_at = $2
                 WHERE id = $3 AND totp_enrolled_at IS NULL AND disabled_at IS NULL
                   AND setup_token_hash IS NOT NULL",
                &[&password_hash, &now, &user_id],
            )?;
            if n == 0 {
                return Err(not_in_setup(user_id_in(tx, user_id)?));
            }
            user_id_in(tx, user_id)
        })
    }

    fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> Result<User> {
        people::check_totp_secret(secret)?;
        self.people_write(|tx| {
            let n = tx.execute(
                "UPDATE users SET totp_secret = $1
                 WHERE id = $2 AND totp_enrolled_at IS NULL AND disabled_at IS NULL
                   AND setup_token_hash IS NOT NULL",
                &[&secret, &user_id],
            )?;
            if n == 0 {
                return Err(not_in_setup(user_id_in(tx, user_id)?));
            }
            user_id_in(tx, user_id)
        })
    }

    fn confirm_totp(&self, user_id: i64, step: i64, now: Millis) -> Result<User> {
        self.people_write(|tx| {
            let n = tx.execute(
                "UPDATE users SET totp_enrolled_at = $1, totp_last_step = $2,
                     setup_token_hash = NULL, setup_expires_at = NULL,
                     failed_logins = 0, locked_until = NULL
                 WHERE id = $3 AND totp_enrolled_at IS NULL AND disabled_at IS NULL
                   AND password_hash IS NOT NULL AND totp_secret IS NOT NULL
                   AND setup_token_hash IS NOT NULL",
                &[&now, &step, &user_id],
            )?;
            if n == 0 {
                let u = user_id_in(tx, user_id)?;
                if u.password_hash.is_none() || u.totp_secret.is_none() {
                    return Err(BankError::Invalid(format!(
                        "{:?} has no password or no TOTP secret yet: set the password and \
                         issue a secret before confirming a code",
                        u.name
                    )));
                }
                return Err(not_in_setup(u));
            }
            user_id_in(tx, user_id)
        })
    }

    fn record_login_failure(
        &self,
        user_id: i64,
        now: Millis,
        max_failures: u32,
        lockout_ms: Millis,
    ) -> Result<FailedLogin> {
        people::check_lockout(max_failures, lockout_ms)?;
        self.people_write(|tx| {
            // The row lock serializes concurrent failures of one person.
            let failed: i32 = tx
                .query_opt(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1
                     RETURNING failed_logins",
                    &[&user_id],
                )?
                .ok_or_else(|| people::no_such_user_id(user_id))?
                .get(0);
            let failed = failed.max(0) as u32;
            let locked_until = (failed >= max_failures).then(|| now.saturating_add(lockout_ms));
            if let Some(until) = locked_until {
                // A lock starts the count again, so the next lock needs as many failures again.
                tx.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2",
                    &[&until, &user_id],
                )?;
            }
            Ok(FailedLogin { failed_logins: failed, locked_until })
        })
    }

    fn record_login_success(&self, user_id: i64, step: i64, _now: Millis) -> Result<bool> {
        self.people_write(|tx| {
            let n = tx.execute(
                "UPDATE users SET totp_last_step = $1, failed_logins = 0, locked_until = NULL
                 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                &[&step, &user_id],
            )?;
            if n == 0 {
                user_id_in(tx, user_id)?;
            }
            Ok(n == 1)
        })
    }

    fn disable_user(&self, name: &str, actor: &str, reason: &str, now: Millis) -> Result<User> {
        check_actor(actor)?;
        check_reason(reason)?;
        self.people_write_audited(
            |tx| {
                let u = user_in(tx, name)?;
                if let Some(d) = &u.disabled {
                    return Err(BankError::Invalid(format!(
                        "{name:?} was disabled already (by {}: {})",
                        d.by, d.reason
                    )));
                }
                tx.execute(
                    "UPDATE users SET disabled_at = $1, disabled_by = $2, disabled_reason = $3,
                     setup_token_hash = NULL, setup_expires_at = NULL
                 WHERE id = $4",
                    &[&now, &actor, &reason, &u.id],
                )?;
                tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&u.id])?;
                user_id_in(tx, u.id)
            },
            |u| {
                NewRecord::by(actor, "user_disable", "user", &u.name)
                    .with_details(json!({ "reason": reason }))
            },
        )
    }

    fn reset_user(
        &self,
        name: &str,
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: Millis,
    ) -> Result<User> {
        check_actor(actor)?;
        people::check_expiry(setup_expires_at, now_ms())?;
        self.people_write_audited(
            |tx| {
                let u = user_in(tx, name)?;
                if u.disabled.is_some() {
                    return Err(disabled_for_good(name));
                }
                tx.execute(
                    "UPDATE users SET password_hash = NULL, password_set_at = NULL,
                     totp_secret = NULL, totp_enrolled_at = NULL, totp_last_step = NULL,
                     setup_token_hash = $1, setup_expires_at = $2,
                     failed_logins = 0, locked_until = NULL
                 WHERE id = $3",
                    &[&&setup_hash[..], &setup_expires_at, &u.id],
                )?;
                tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&u.id])?;
                user_id_in(tx, u.id)
            },
            |u| NewRecord::by(actor, "user_reset", "user", &u.name).with_details(json!({})),
        )
    }

    fn set_user_role(&self, name: &str, role: PersonRole, actor: &str) -> Result<User> {
        check_actor(actor)?;
        let from = std::cell::Cell::new(None);
        self.people_write_audited(
            |tx| {
                let u = user_in(tx, name)?;
                from.set(Some(u.role));
                if u.disabled.is_some() {
                    return Err(disabled_for_good(name));
                }
                tx.execute("UPDATE users SET role = $1 WHERE id = $2", &[&role.name(), &u.id])?;
                user_id_in(tx, u.id)
            },
            |u| {
                NewRecord::by(actor, "user_role", "user", &u.name).with_details(
                    json!({ "from": from.get().map(PersonRole::name), "to": role.name() }),
                )
            },
        )
    }

    fn set_user_queues(&self, name: &str, queues: &[String], actor: &str) -> Result<User> {
        check_actor(actor)?;
        let queues = people::check_queues(queues)?;
        let from = std::cell::RefCell::new(Vec::new());
        self.people_write_audited(
            |tx| {
                let u = user_in(tx, name)?;
                if u.disabled.is_some() {
                    return Err(disabled_for_good(name));
                }
                from.replace(u.queues);
                tx.execute(
                    "UPDATE users SET queues = $1 WHERE id = $2",
                    &[&people::queues_text(&queues), &u.id],
                )?;
                user_id_in(tx, u.id)
            },
            |u| queues_record(actor, u, &from.borrow()),
        )
    }

    fn create_session(
        &self,
        user_id: i64,
        token_hash: &[u8; 32],
        csrf_token: &str,
        now: Millis,
        address: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Session> {
        people::check_csrf(csrf_token)?;
        let address = people::clean_client(address);
        let user_agent = people::clean_client(user_agent);
        self.people_write(|tx| {
            let u = user_id_in(tx, user_id)?;
            if u.disabled.is_some() || !u.setup_done() {
                return Err(BankError::Invalid(format!(
                    "{:?} cannot have a session: the account is disabled or not set up",
                    u.name
                )));
            }
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at,
                                       address, user_agent)
                 VALUES ($1, $2, $3, $4, $4, $5, $6)",
                &[&&token_hash[..], &user_id, &csrf_token, &now, &address, &user_agent],
            )?;
            Ok(Session {
                user_id,
                csrf_token: csrf_token.to_string(),
                created_at: now,
                last_seen_at: now,
                address,
                user_agent,
            })
        })
    }

    fn touch_session(
        &self,
        token_hash: &[u8; 32],
        now: Millis,
        limits: SessionLimits,
    ) -> Result<SessionLookup> {
        people::check_limits(limits)?;
        self.people_write(|tx| {
            // Every page a person opens touches their session: not worth a wait for the disk
            // flush. A crash can lose only a last-seen time (the session then looks idle
            // longer, never shorter) or the deletion of a session that is refused anyway.
            tx.batch_execute("SET LOCAL synchronous_commit TO OFF")?;
            let found = tx
                .query_opt(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1 FOR UPDATE"
                    ),
                    &[&&token_hash[..]],
                )?
                .map(|r| session_from_row(&r));
            let Some(mut session) = found else { return Ok(SessionLookup::Unknown) };
            let user = user_id_in(tx, session.user_id)?;
            if user.disabled.is_some() || !user.setup_done() {
                tx.execute("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]])?;
                return Ok(SessionLookup::Unknown);
            }
            if let Some(why) = people::expiry(&session, now, limits) {
                tx.execute("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]])?;
                return Ok(SessionLookup::Expired { user, why });
            }
            if now > session.last_seen_at {
                tx.execute(
                    "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2",
                    &[&now, &&token_hash[..]],
                )?;
                session.last_seen_at = now;
            }
            Ok(SessionLookup::Active { session, user })
        })
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool> {
        let n = self
            .lock()?
            .execute("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]])?;
        Ok(n > 0)
    }

    fn delete_user_sessions(&self, user_id: i64) -> Result<u64> {
        Ok(self.lock()?.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])?)
    }
}
