//! People who use the console: their accounts ([`User`]), roles ([`PersonRole`]) and console
//! sessions ([`Session`]), and what every store does with them ([`People`]).
//!
//! A person is created with a one-time *setup token*; only its SHA-256 is stored, with an expiry
//! (72 hours by default). With it the person sets a password (the store keeps only the argon2id
//! PHC string it is given) and enrols a TOTP authenticator; confirming the first code finishes
//! setup and spends the token. Until then the account can do nothing else.
//!
//! Sessions: the browser holds a random token; the store keeps its SHA-256, the session's CSRF
//! token, when it began and when it was last used. [`People::touch_session`] enforces the idle
//! and absolute timeouts it is given and deletes a session past either. Disabling or resetting a
//! person deletes all of their sessions (logout everywhere).
//!
//! Invariants (tested on both stores in `tests/people.rs`): a setup token works only until it
//! expires or setup is finished; a TOTP time step is accepted at most once per person (replay
//! guard); a person is locked after the given number of consecutive failed logins; a session
//! past its idle or absolute timeout is never returned and is deleted; nothing here ever holds a
//! password, a TOTP code or a token in clear.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::{format_time, Millis};
use crate::{BankError, Result};

/// How long a setup link works when no other time is given: 72 hours.
pub const DEFAULT_SETUP_TTL_MS: Millis = 72 * 3600 * 1000;

/// Longest person name.
pub const MAX_NAME: usize = 64;

/// What a person may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    /// Everything, including people and keys.
    Admin,
    /// Banks and entries: read, create, change.
    Curator,
    /// Reviews matches and cases.
    Reviewer,
    /// Reads the audit log and statistics; changes nothing.
    Auditor,
}

impl PersonRole {
    /// Every role, in the order shown to people.
    pub const ALL: [PersonRole; 4] =
        [PersonRole::Admin, PersonRole::Curator, PersonRole::Reviewer, PersonRole::Auditor];

    /// The name used in flags, forms and the database.
    pub fn name(self) -> &'static str {
        match self {
            PersonRole::Admin => "admin",
            PersonRole::Curator => "curator",
            PersonRole::Reviewer => "reviewer",
            PersonRole::Auditor => "auditor",
        }
    }
}

impl fmt::Display for PersonRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PersonRole {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        PersonRole::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use admin, curator, reviewer or auditor"))
    }
}

/// Checks a person's name: 1–64 characters, lower-case letters `a`–`z`, digits, `.`, `_` and
/// `-`, starting with a letter (`reviewer1`, `j.smith`).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_lowercase()
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'_' || c == b'-'
        });
    if ok {
        Ok(())
    } else {
        Err(BankError::Invalid(format!(
            "invalid person name {name:?}: use 1-{MAX_NAME} characters from a-z, 0-9, '.', '_' \
             and '-', starting with a letter (for example reviewer1 or j.smith)"
        )))
    }
}

/// Who disabled a person, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserDisabled {
    /// Who did it.
    pub by: String,
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub at: Millis,
    /// Why.
    pub reason: String,
}

/// A person's account. Its `Debug` form and its serialised form never include the password
/// hash or the TOTP secret.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Store-wide id.
    pub id: i64,
    /// Unique name (see [`check_name`]).
    pub name: String,
    /// What the person may do.
    pub role: PersonRole,
    /// The argon2id PHC string, once a password is set.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// When the password was set.
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub password_set_at: Option<Millis>,
    /// The TOTP secret (raw bytes), once one is issued.
    #[serde(skip)]
    pub totp_secret: Option<Vec<u8>>,
    /// When TOTP was confirmed (setup is finished when this and the password are set).
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub totp_enrolled_at: Option<Millis>,
    /// The last TOTP time step accepted (none is accepted twice).
    #[serde(skip)]
    pub totp_last_step: Option<i64>,
    /// When the pending setup link stops working (none: no setup link is pending).
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub setup_expires_at: Option<Millis>,
    /// Failed logins since the last successful one.
    pub failed_logins: u32,
    /// Logins are refused until then.
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<Millis>,
    /// Set when the account is disabled (for good).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<UserDisabled>,
    /// When the account was made.
    #[serde(serialize_with = "ser_time")]
    pub created_at: Millis,
    /// Who made it.
    pub created_by: String,
    /// The review queues the person takes cases from, by name; empty: every queue. Shown only
    /// when limited.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password", &self.password_hash.as_ref().map(|_| "(set)"))
            .field("totp", &self.totp_secret.as_ref().map(|_| "(set)"))
            .field("totp_enrolled_at", &self.totp_enrolled_at)
            .field("setup_expires_at", &self.setup_expires_at)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("disabled", &self.disabled)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether the person's queue list lets them take cases of `queue` (an empty list lets them
    /// take every queue). Roles are not looked at here: administrators are not bound by their
    /// list, and the senior queue is theirs alone (the console decides both).
    pub fn reviews_queue(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|q| q == queue)
    }

    /// Whether the person has set a password and confirmed TOTP.
    pub fn setup_done(&self) -> bool {
        self.password_hash.is_some() && self.totp_enrolled_at.is_some()
    }

    /// Whether logins are refused at `now` because of failed logins.
    pub fn locked_at(&self, now: Millis) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }

    /// A short state for lists: `active`, `setup pending`, `setup expired`, `locked`,
    /// `disabled`.
    pub fn state(&self, now: Millis) -> &'static str {
        if self.disabled.is_some() {
            "disabled"
        } else if !self.setup_done() {
            match self.setup_expires_at {
                Some(t) if t > now => "setup pending",
                _ => "setup expired",
            }
        } else if self.locked_at(now) {
            "locked"
        } else {
            "active"
        }
    }
}

/// A console session, as stored (its token only as a hash, elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose.
    pub user_id: i64,
    /// The token every form of this session carries.
    pub csrf_token: String,
    /// When it began (the absolute timeout counts from here).
    pub created_at: Millis,
    /// When it was last used (the idle timeout counts from here).
    pub last_seen_at: Millis,
    /// The client address it began from.
    pub address: Option<String>,
    /// The browser it began in (`User-Agent`, shortened).
    pub user_agent: Option<String>,
}

/// Session timeouts, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused for longer than this is over.
    pub idle_ms: Millis,
    /// A session older than this is over, however busy.
    pub max_age_ms: Millis,
}

impl Default for SessionLimits {
    /// 30 minutes idle, 12 hours in all.
    fn default() -> Self {
        SessionLimits { idle_ms: 30 * 60 * 1000, max_age_ms: 12 * 3600 * 1000 }
    }
}

/// Why a session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Unused for longer than the idle timeout.
    Idle,
    /// Older than the absolute timeout.
    MaxAge,
}

impl Expiry {
    /// `idle` or `max_age`.
    pub fn name(self) -> &'static str {
        match self {
            Expiry::Idle => "idle",
            Expiry::MaxAge => "max_age",
        }
    }
}

/// What looking up a session found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// A live session (now touched) of a person who may use the console.
    Active {
        /// The session, as it is after the touch.
        session: Session,
        /// Its person.
        user: User,
    },
    /// The session was past a timeout; it has been deleted.
    Expired {
        /// Its person.
        user: User,
        /// Which timeout.
        why: Expiry,
    },
    /// No such session (never made, logged out, or its person was disabled or reset).
    Unknown,
}

/// What a failed login did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogin {
    /// Consecutive failures now.
    pub failed_logins: u32,
    /// Set when this failure locked the account: until when.
    pub locked_until: Option<Millis>,
}

/// A random secret token (a setup link's or a session's): the text handed out once, and the
/// SHA-256 that is stored.
pub struct SecretToken {
    /// 32 random bytes, base64url without padding (43 characters).
    pub token: String,
    /// SHA-256 of `token`'s text.
    pub hash: [u8; 32],
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(..)")
    }
}

impl SecretToken {
    /// A new token from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let token = random_token()?;
        Ok(SecretToken { hash: token_hash(&token), token })
    }
}

/// SHA-256 of a token's text: what the store keeps and looks up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// 32 random bytes as base64url without padding.
pub fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        BankError::Invalid(format!(
            "cannot read random bytes from the operating system ({e}): check that /dev/urandom \
             is available"
        ))
    })?;
    Ok(base64url(&bytes))
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Most review queues one person may be limited to.
pub const MAX_QUEUES: usize = 32;

/// Checks the review queues a person is limited to (see [`crate::cases::check_queue`]; not the
/// senior queue, which is the administrators'), and returns them sorted without repeats.
pub fn check_queues(queues: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(queues.len());
    for q in queues {
        crate::cases::check_queue(q)?;
        if q == crate::cases::SENIOR_QUEUE {
            return Err(BankError::Invalid(format!(
                "{q:?} cannot be in a person's queues: escalated cases are for administrators, \
                 who take every queue; leave it out"
            )));
        }
        out.push(q.clone());
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_QUEUES {
        return Err(BankError::Invalid(format!(
            "{} queues for one person: at most {MAX_QUEUES}; give none to let them take every \
             queue",
            out.len()
        )));
    }
    Ok(out)
}

/// A person's queues as stored: names separated by commas, `None` for every queue.
pub(crate) fn queues_text(queues: &[String]) -> Option<String> {
    (!queues.is_empty()).then(|| queues.join(","))
}

/// A person's queues from their stored text.
pub(crate) fn queues_from_text(text: Option<String>) -> Vec<String> {
    text.map(|t| t.split(',').filter(|q| !q.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The audit details of a person's queues: the list, or `"every"`.
pub(crate) fn queues_detail(queues: &[String]) -> serde_json::Value {
    if queues.is_empty() {
        serde_json::Value::from("every")
    } else {
        serde_json::Value::from(queues.to_vec())
    }
}

/// What both stores do with people and sessions. Every method is one transaction.
pub trait People {
    /// Makes an account that must be set up with the setup token whose SHA-256 is
    /// `setup_hash`, until `setup_expires_at`; it takes cases from every queue.
    fn create_user(
        &self,
        name: &str,
        role: PersonRole,
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: Millis,
    ) -> Result<User> {
        self.create_user_in_queues(name, role, &[], actor, setup_hash, setup_expires_at)
    }
    /// [`People::create_user`] for a person limited to `queues` (checked by [`check_queues`];
    /// empty: every queue). Audited `user_create` with the role and, when limited, the queues.
    fn create_user_in_queues(
        &self,
        name: &str,
        role: PersonRole,
        queues: &[String],
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: Millis,
    ) -> Result<User>;
    /// One person, by name.
    fn user(&self, name: &str) -> Result<User>;
    /// One person, by id.
    fn user_by_id(&self, id: i64) -> Result<User>;
    /// Every person, by name.
    fn users(&self) -> Result<Vec<User>>;
    /// The person whose pending setup token hashes to `setup_hash`, when it has not expired at
    /// `now`, setup is not finished and the account is not disabled.
    fn user_by_setup_token(&self, setup_hash: &[u8; 32], now: Millis) -> Result<Option<User>>;
    /// Sets the password (an argon2id PHC string) of a person still in setup.
    fn set_password(&self, user_id: i64, password_hash: &str, now: Millis) -> Result<User>;
    /// Issues the TOTP secret of a person still in setup (replacing one not yet confirmed).
    fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> Result<User>;
    /// Confirms TOTP with the time step of a valid code: finishes setup and spends the setup
    /// token. Refused when the password or secret is missing or setup is finished already.
    fn confirm_totp(&self, user_id: i64, step: i64, now: Millis) -> Result<User>;
    /// Counts a failed login; at `max_failures` consecutive failures the account is locked for
    /// `lockout_ms`.
    fn record_login_failure(
        &self,
        user_id: i64,
        now: Millis,
        max_failures: u32,
        lockout_ms: Millis,
    ) -> Result<FailedLogin>;
    /// Records a successful login with the TOTP time step used: clears the failure count and the
    /// lock. Returns false, changing nothing, when that step (or a later one) was used already:
    /// the code is a replay.
    fn record_login_success(&self, user_id: i64, step: i64, now: Millis) -> Result<bool>;
    /// Disables an account for good, with who and why, and deletes its sessions.
    fn disable_user(&self, name: &str, actor: &str, reason: &str, now: Millis) -> Result<User>;
    /// Clears an account's password and TOTP, issues a new setup token, and deletes its
    /// sessions (logout everywhere).
    fn reset_user(
        &self,
        name: &str,
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: Millis,
    ) -> Result<User>;
    /// Changes a person's role.
    fn set_user_role(&self, name: &str, role: PersonRole, actor: &str) -> Result<User>;
    /// Limits a person to some review queues (checked by [`check_queues`]; empty: every
    /// queue). Audited `user_queues` with the queues before and after (`"every"` for none);
    /// refused for a disabled account.
    fn set_user_queues(&self, name: &str, queues: &[String], actor: &str) -> Result<User>;

    /// Stores a new session (the SHA-256 of its token).
    #[allow(clippy::too_many_arguments)]
    fn create_session(
        &self,
        user_id: i64,
        token_hash: &[u8; 32],
        csrf_token: &str,
        now: Millis,
        address: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Session>;
    /// Looks a session up at `now`: past a timeout of `limits` it is deleted and reported
    /// expired; otherwise its last use becomes `now`. Sessions of disabled people or people not
    /// set up are unknown.
    fn touch_session(
        &self,
        token_hash: &[u8; 32],
        now: Millis,
        limits: SessionLimits,
    ) -> Result<SessionLookup>;
    /// Deletes one session (logout); false when there was none.
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool>;
    /// Deletes every session of a person; how many there were.
    fn delete_user_sessions(&self, user_id: i64) -> Result<u64>;
}

/// Longest `User-Agent` kept with a session, in characters.
pub(crate) const MAX_USER_AGENT: usize = 256;

/// Shortens a client description to what a session keeps, without control characters.
pub(crate) fn clean_client(s: Option<&str>) -> Option<String> {
    s.map(|s| s.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT).collect())
}

/// The error for an unknown person.
pub(crate) fn no_such_user(name: &str) -> BankError {
    BankError::Invalid(format!("no person named {name:?}: `spoor users list` shows them"))
}

/// The error for an unknown person id.
pub(crate) fn no_such_user_id(id: i64) -> BankError {
    BankError::Invalid(format!(
        "no person with id {id}: the account was removed; `spoor users list` shows them"
    ))
}

/// Checks a password hash handed to the store: an argon2id PHC string.
pub(crate) fn check_password_hash(h: &str) -> Result<()> {
    if !h.starts_with("$argon2id$") || h.len() > 512 || h.chars().any(char::is_control) {
        return Err(BankError::Invalid(
            "the password hash is not an argon2id PHC string ($argon2id$...): hash the password \
             with argon2id before storing it"
                .into(),
        ));
    }
    Ok(())
}

/// Checks a TOTP secret: 16 to 64 bytes (RFC 4226 asks for at least 128 bits).
pub(crate) fn check_totp_secret(s: &[u8]) -> Result<()> {
    if !(16..=64).contains(&s.len()) {
        return Err(BankError::Invalid(format!(
            "a TOTP secret of {} bytes: use 16 to 64 random bytes (20 is usual)",
            s.len()
        )));
    }
    Ok(())
}

/// Checks a session's CSRF token: 16 to 128 printable ASCII characters.
pub(crate) fn check_csrf(t: &str) -> Result<()> {
    if !(16..=128).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BankError::Invalid(
            "a session's CSRF token must be 16 to 128 printable ASCII characters: generate it \
             with random_token()"
                .into(),
        ));
    }
    Ok(())
}

/// Checks that a setup link expires after `now`.
pub(crate) fn check_expiry(expires_at: Millis, now: Millis) -> Result<()> {
    if expires_at <= now {
        return Err(BankError::Invalid(format!(
            "the setup link would expire at {}, which is not in the future: give a positive \
             validity",
            format_time(expires_at)
        )));
    }
    Ok(())
}

/// Checks limits given for logins.
pub(crate) fn check_lockout(max_failures: u32, lockout_ms: Millis) -> Result<()> {
    if max_failures == 0 || lockout_ms <= 0 {
        return Err(BankError::Invalid(
            "login lockout settings must allow at least one failure and lock for a positive time"
                .into(),
        ));
    }
    Ok(())
}

/// Checks timeouts given for sessions.
pub(crate) fn check_limits(l: SessionLimits) -> Result<()> {
    if l.idle_ms <= 0 || l.max_age_ms <= 0 {
        return Err(BankError::Invalid(
            "session timeouts must be positive: give --session-idle-timeout and \
             --session-max-age above zero"
                .into(),
        ));
    }
    Ok(())
}

/// Which timeout, if any, a session is past at `now`.
pub(crate) fn expiry(s: &Session, now: Millis, l: SessionLimits) -> Option<Expiry> {
    if now.saturating_sub(s.created_at) > l.max_age_ms {
        Some(Expiry::MaxAge)
    } else if now.saturating_sub(s.last_seen_at) > l.idle_ms {
        Some(Expiry::Idle)
    } else {
        None
    }
}

/// Columns of a user row, as both stores read them.
pub(crate) const USER_COLUMNS: &str = "id, name, role, password_hash, password_set_at, \
     totp_secret, totp_enrolled_at, totp_last_step, setup_expires_at, failed_logins, \
     locked_until, disabled_at, disabled_by, disabled_reason, created_at, created_by, queues";

/// Columns of a session row.
pub(crate) const SESSION_COLUMNS: &str =
    "user_id, csrf_token, created_at, last_seen_at, address, user_agent";

fn ser_time<S: serde::Serializer>(ms: &Millis, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*ms))
}

fn ser_opt_time<S: serde::Serializer>(
    ms: &Option<Millis>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_time(*ms)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "reviewer1", "j.smith", "a-b_c", &"x".repeat(64)] {
            check_name(ok).unwrap();
        }
        for bad in ["", "1abc", "Upper", "a b", "a/b", "é", ".a", &"x".repeat(65)] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("invalid person name"), "{e}");
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in PersonRole::ALL {
            assert_eq!(r.name().parse::<PersonRole>().unwrap(), r);
        }
        assert!("matcher".parse::<PersonRole>().unwrap_err().contains("reviewer"));
    }

    #[test]
    fn tokens_are_43_base64url_characters_and_differ() {
        let a = SecretToken::generate().unwrap();
        let b = SecretToken::generate().unwrap();
        assert_eq!(a.token.len(), 43);
        assert!(a.token.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, token_hash(&a.token));
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(b"fo"), "Zm8");
    }

    #[test]
    fn expiry_checks_both_timeouts() {
        let s = Session {
            user_id: 1,
            csrf_token: "x".repeat(20),
            created_at: 0,
            last_seen_at: 1000,
            address: None,
            user_agent: None,
        };
        let l = SessionLimits { idle_ms: 100, max_age_ms: 2000 };
        assert_eq!(expiry(&s, 1100, l), None);
        assert_eq!(expiry(&s, 1101, l), Some(Expiry::Idle));
        let s2 = Session { last_seen_at: 1990, ..s };
        assert_eq!(expiry(&s2, 2001, l), Some(Expiry::MaxAge));
    }

    #[test]
    fn debug_hides_secrets() {
        let u = User {
            id: 1,
            name: "a".into(),
            role: PersonRole::Admin,
            password_hash: Some("$argon2id$secret".into()),
            password_set_at: None,
            totp_secret: Some(vec![7; 20]),
            totp_enrolled_at: None,
            totp_last_step: None,
            setup_expires_at: None,
            failed_logins: 0,
            locked_until: None,
            disabled: None,
            created_at: 0,
            created_by: "cli".into(),
            queues: vec![],
        };
        let d = format!("{u:?}");
        assert!(!d.contains("argon2id") && !d.contains("[7, 7"), "{d}");
        let j = serde_json::to_string(&u).unwrap();
        assert!(!j.contains("argon2id") && !j.contains("totp_secret"), "{j}");
    }
}
