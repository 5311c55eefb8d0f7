//! [`People`] on the embedded SQLite store: writes on the writer connection (each one
//! transaction, `BEGIN IMMEDIATE`), reads on the read pool.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde_json::json;
use spoor_audit::NewRecord;

use crate::model::{now_ms, Millis};
use crate::people::{
    self, FailedLogin, People, PersonRole, Session, SessionLimits, SessionLookup, User,
    UserDisabled, SESSION_COLUMNS, USER_COLUMNS,
};
use crate::{check_actor, check_reason, BankError, Result, SqliteStore};

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    let role: PersonRole = role.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            Box::new(BankError::Invalid(e)),
        )
    })?;
    let disabled = match (r.get::<_, Option<Millis>>(11)?, r.get::<_, Option<String>>(12)?) {
        (Some(at), Some(by)) => Some(UserDisabled {
            by,
            at,
            reason: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role,
        password_hash: r.get(3)?,
        password_set_at: r.get(4)?,
        totp_secret: r.get(5)?,
        totp_enrolled_at: r.get(6)?,
        totp_last_step: r.get(7)?,
        setup_expires_at: r.get(8)?,
        failed_logins: r.get::<_, i64>(9)?.clamp(0, i64::from(u32::MAX)) as u32,
        locked_until: r.get(10)?,
        disabled,
        created_at: r.get(14)?,
        created_by: r.get(15)?,
        queues: people::queues_from_text(r.get(16)?),
    })
}

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        user_id: r.get(0)?,
        csrf_token: r.get(1)?,
        created_at: r.get(2)?,
        last_seen_at: r.get(3)?,
        address: r.get(4)?,
        user_agent: r.get(5)?,
    })
}

fn user_where(
    conn: &Connection,
    clause: &str,
    p: &dyn rusqlite::ToSql,
) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}"))?
        .query_row([p], user_from_row)
        .optional()
}

impl SqliteStore {
    /// Runs `f` in one writing transaction on the writer connection.
    pub(crate) fn people_write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// A write of a person's account by someone (`actor`) and its audit record, in one
    /// transaction: both or neither.
    pub(crate) fn people_write_audited<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
        record: impl FnOnce(&T) -> spoor_audit::NewRecord,
    ) -> Result<T> {
        self.people_write(|tx| {
            let out = f(tx)?;
            let head = crate::sqlite_store::audit_head_in(self, tx)?;
            let r = spoor_audit::Record::seal(head, now_ms(), &record(&out))
                .map_err(|e| BankError::Invalid(e.to_string()))?;
            crate::sqlite_store::insert_audit_in(self, tx, &r)?;
            Ok(out)
        })
    }

    fn user_in(&self, conn: &Connection, name: &str) -> Result<User> {
        user_where(conn, "name = ?1", &name)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| people::no_such_user(name))
    }

    fn user_id_in(&self, conn: &Connection, id: i64) -> Result<User> {
        user_where(conn, "id = ?1", &id)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| people::no_such_user_id(id))
    }
}

impl People for SqliteStore {
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
                if user_where(tx, "name = ?1", &name).map_err(|e| self.err(e))?.is_some() {
                    return Err(BankError::Invalid(format!(
                        "a person named {name:?} exists already: choose another name, or `spoor \
                     users reset {name}` to give them a new setup link"
                    )));
                }
                tx.execute(
                    "INSERT INTO users (name, role, setup_token_hash, setup_expires_at, created_at,
                                    created_by, queues)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        name,
                        role.name(),
                        &setup_hash[..],
                        setup_expires_at,
                        now,
                        actor,
                        people::queues_text(&queues)
                    ],
                )
                .map_err(|e| self.err(e))?;
                self.user_in(tx, name)
            },
            |u| {
                NewRecord::by(actor, "user_create", "user", &u.name).with_details(create_details(u))
            },
        )
    }

    fn user(&self, name: &str) -> Result<User> {
        self.user_in(&*self.read()?, name)
    }

    fn user_by_id(&self, id: i64) -> Result<User> {
        self.user_id_in(&*self.read()?, id)
    }

    fn users(&self) -> Result<Vec<User>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], user_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn user_by_setup_token(&self, setup_hash: &[u8; 32], now: Millis) -> Result<Option<User>> {
        let conn = self.read()?;
        let found = user_where(&conn, "setup_token_hash = ?1", &&setup_hash[..])
            .map_err(|e| self.err(e))?;
        Ok(found.filter(|u| {
            u.disabled.is_none() && !u.setup_done() && u.setup_expires_at.is_some_and(|t| t > now)
        }))
    }

    fn set_password(&self, user_id: i64, password_hash: &str, now: Millis) -> Result<User> {
        people::check_password_hash(password_hash)?;
        self.people_write(|tx| {
            let n = tx
                .execute(
                    "UPDATE users SET password_hash = ?1, password_set_at = ?2
                     WHERE id = ?3 AND totp_enrolled_at IS NULL AND disabled_at IS NULL
                       AND setup_token_hash IS NOT NULL",
                    params![password_hash, now, user_id],
                )
                .map_err(|e| self.err(e))?;
            if n == 0 {
                return Err(not_in_setup(self.user_id_in(tx, user_id)?));
            }
            self.user_id_in(tx, user_id)
        })
    }

    fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> Result<User> {
        people::check_totp_secret(secret)?;
        self.people_write(|tx| {
            let n = tx
                .execute(
                    "UPDATE users SET totp_secret = ?1
                     WHERE id = ?2 AND totp_enrolled_at IS NULL AND disabled_at IS NULL
                       AND setup_token_hash IS NOT NULL",
                    params![secret, user_id],
                )
                .map_err(|e| self.err(e))?;
            if n == 0 {
                return Err(not_in_setup(self.user_id_in(tx, user_id)?));
            }
            self.user_id_in(tx, user_id)
        })
    }

    fn confirm_totp(&self, user_id: i64, step: i64, now: Millis) -> Result<User> {
        self.people_write(|tx| {
            let n = tx
                .execute(
                    "UPDATE users SET totp_enrolled_at = ?1, totp_last_step = ?2,
                         setup_token_hash = NULL, setup_expires_at = NULL,
                         failed_logins = 0, locked_until = NULL
                     WHERE id = ?3 AND totp_enrolled_at IS NULL AND disabled_at IS NULL
                       AND password_hash IS NOT NULL AND totp_secret IS NOT NULL
                       AND setup_token_hash IS NOT NULL",
                    params![now, step, user_id],
                )
                .map_err(|e| self.err(e))?;
            if n == 0 {
                let u = self.user_id_in(tx, user_id)?;
                if u.password_hash.is_none() || u.totp_secret.is_none() {
                    return Err(BankError::Invalid(format!(
                        "{:?} has no password or no TOTP secret yet: set the password and \
                         issue a secret before confirming a code",
                        u.name
                    )));
                }
                return Err(not_in_setup(u));
            }
            self.user_id_in(tx, user_id)
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
            let u = self.user_id_in(tx, user_id)?;
            let failed = u.failed_logins.saturating_add(1);
            let locked_until = (failed >= max_failures).then(|| now.saturating_add(lockout_ms));
            // A lock starts the count again, so the next lock needs as many failures again.
            let stored = if locked_until.is_some() { 0 } else { failed };
            tx.execute(
                "UPDATE users SET failed_logins = ?1, locked_until = COALESCE(?2, locked_until)
                 WHERE id = ?3",
                params![i64::from(stored), locked_until, user_id],
            )
            .map_err(|e| self.err(e))?;
            Ok(FailedLogin { failed_logins: failed, locked_until })
        })
    }

    fn record_login_success(&self, user_id: i64, step: i64, _now: Millis) -> Result<bool> {
        self.people_write(|tx| {
            let n = tx
                .execute(
                    "UPDATE users SET totp_last_step = ?1, failed_logins = 0, locked_until = NULL
                     WHERE id = ?2 AND (totp_last_step IS NULL OR totp_last_step < ?1)",
                    params![step, user_id],
                )
                .map_err(|e| self.err(e))?;
            if n == 0 {
                self.user_id_in(tx, user_id)?;
            }
            Ok(n == 1)
        })
    }

    fn disable_user(&self, name: &str, actor: &str, reason: &str, now: Millis) -> Result<User> {
        check_actor(actor)?;
        check_reason(reason)?;
        self.people_write_audited(
            |tx| {
                let u = self.user_in(tx, name)?;
                if let Some(d) = &u.disabled {
                    return Err(BankError::Invalid(format!(
                        "{name:?} was disabled already (by {}: {})",
                        d.by, d.reason
                    )));
                }
                tx.execute(
                    "UPDATE users SET disabled_at = ?1, disabled_by = ?2, disabled_reason = ?3,
                     setup_token_hash = NULL, setup_expires_at = NULL
                 WHERE id = ?4",
                    params![now, actor, reason, u.id],
                )
                .map_err(|e| self.err(e))?;
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [u.id])
                    .map_err(|e| self.err(e))?;
                self.user_id_in(tx, u.id)
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
                let u = self.user_in(tx, name)?;
                if u.disabled.is_some() {
                    return Err(disabled_for_good(name));
                }
                tx.execute(
                    "UPDATE users SET password_hash = NULL, password_set_at = NULL,
                     totp_secret = NULL, totp_enrolled_at = NULL, totp_last_step = NULL,
                     setup_token_hash = ?1, setup_expires_at = ?2,
                     failed_logins = 0, locked_until = NULL
                 WHERE id = ?3",
                    params![&setup_hash[..], setup_expires_at, u.id],
                )
                .map_err(|e| self.err(e))?;
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [u.id])
                    .map_err(|e| self.err(e))?;
                self.user_id_in(tx, u.id)
            },
            |u| NewRecord::by(actor, "user_reset", "user", &u.name).with_details(json!({})),
        )
    }

    fn set_user_role(&self, name: &str, role: PersonRole, actor: &str) -> Result<User> {
        check_actor(actor)?;
        let from = std::cell::Cell::new(None);
        self.people_write_audited(
            |tx| {
                let u = self.user_in(tx, name)?;
                from.set(Some(u.role));
                if u.disabled.is_some() {
                    return Err(disabled_for_good(name));
                }
                tx.execute("UPDATE users SET role = ?1 WHERE id = ?2", params![role.name(), u.id])
                    .map_err(|e| self.err(e))?;
                self.user_id_in(tx, u.id)
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
                let u = self.user_in(tx, name)?;
                if u.disabled.is_some() {
                    return Err(disabled_for_good(name));
                }
                from.replace(u.queues);
                tx.execute(
                    "UPDATE users SET queues = ?1 WHERE id = ?2",
                    params![people::queues_text(&queues), u.id],
                )
                .map_err(|e| self.err(e))?;
                self.user_id_in(tx, u.id)
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
            let u = self.user_id_in(tx, user_id)?;
            if u.disabled.is_some() || !u.setup_done() {
                return Err(BankError::Invalid(format!(
                    "{:?} cannot have a session: the account is disabled or not set up",
                    u.name
                )));
            }
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at,
                                       address, user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                params![&token_hash[..], user_id, csrf_token, now, address, user_agent],
            )
            .map_err(|e| self.err(e))?;
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
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1"
                ))
                .and_then(|mut s| s.query_row([&token_hash[..]], session_from_row).optional())
                .map_err(|e| self.err(e))?;
            let Some(mut session) = found else { return Ok(SessionLookup::Unknown) };
            let user = self.user_id_in(tx, session.user_id)?;
            if user.disabled.is_some() || !user.setup_done() {
                tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash[..]])
                    .map_err(|e| self.err(e))?;
                return Ok(SessionLookup::Unknown);
            }
            if let Some(why) = people::expiry(&session, now, limits) {
                tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash[..]])
                    .map_err(|e| self.err(e))?;
                return Ok(SessionLookup::Expired { user, why });
            }
            if now > session.last_seen_at {
                tx.execute(
                    "UPDATE sessions SET last_seen_at = ?1 WHERE token_hash = ?2",
                    params![now, &token_hash[..]],
                )
                .map_err(|e| self.err(e))?;
                session.last_seen_at = now;
            }
            Ok(SessionLookup::Active { session, user })
        })
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool> {
        self.people_write(|tx| {
            let n = tx
                .execute("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash[..]])
                .map_err(|e| self.err(e))?;
            Ok(n > 0)
        })
    }

    fn delete_user_sessions(&self, user_id: i64) -> Result<u64> {
        self.people_write(|tx| {
            let n = tx
                .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
                .map_err(|e| self.err(e))?;
            Ok(n as u64)
        })
    }
}

/// The error for a setup step on an account that is not in setup.
pub(crate) fn not_in_setup(u: User) -> BankError {
    if u.disabled.is_some() {
        disabled_for_good(&u.name)
    } else {
        BankError::Invalid(format!(
            "{:?} is not in setup (setup is finished, or no setup link is pending): `spoor users \
             reset {}` starts it again",
            u.name, u.name
        ))
    }
}

/// The error for changing a disabled account.
/// The details of a `user_create` record: the role and, when limited, the queues.
pub(crate) fn create_details(u: &User) -> serde_json::Value {
    let mut d = json!({ "role": u.role.name() });
    if !u.queues.is_empty() {
        d["queues"] = people::queues_detail(&u.queues);
    }
    d
}

/// The `user_queues` record of a change of `u`'s queues from `from`.
pub(crate) fn queues_record(actor: &str, u: &User, from: &[String]) -> NewRecord {
    NewRecord::by(actor, "user_queues", "user", &u.name).with_details(json!({
        "from": people::queues_detail(from),
        "to": people::queues_detail(&u.queues),
    }))
}

pub(crate) fn disabled_for_good(name: &str) -> BankError {
    BankError::Invalid(format!(
        "{name:?} is disabled, for good: create a new account for the person (`spoor users \
         create`)"
    ))
}
