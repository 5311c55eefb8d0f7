//! Passwords: the policy a new one must meet, and argon2id hashing and verification.
//!
//! Policy: at least 12 characters (at most 256), not one of a built-in list of common passwords
//! (compared ignoring case), not a single character repeated, and not containing the person's
//! name. Hashing: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), a random salt,
//! stored as a PHC string. Both hashing and verification take tens of milliseconds: callers run
//! them on blocking threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted, in characters.
pub const MIN_LEN: usize = 12;
/// Longest password accepted, in characters (hashing cost is bounded).
pub const MAX_LEN: usize = 256;

/// Common passwords, one a line, lower-case.
const COMMON: &str = include_str!("common-passwords.txt");

/// Why a new password is refused: the message to show next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Weak {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("Enter a password of at least 12 characters (a few unrelated words make a good one)")]
    TooShort,
    /// More than [`MAX_LEN`] characters.
    #[error("Enter a password of at most 256 characters")]
    TooLong,
    /// On the list of common passwords.
    #[error("This password is one of the most common ones and easy to guess: choose another")]
    Common,
    /// One character over and over.
    #[error("A password of one repeated character is easy to guess: choose another")]
    Repeated,
    /// Contains the person's own name.
    #[error("The password must not contain your name: choose another")]
    ContainsName,
}

/// Checks a new password for the person named `name`.
pub fn check_policy(password: &str, name: &str) -> Result<(), Weak> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(Weak::TooShort);
    }
    if n > MAX_LEN {
        return Err(Weak::TooLong);
    }
    let lower = password.to_lowercase();
    if is_common(&lower) {
        return Err(Weak::Common);
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(Weak::Repeated);
    }
    if !name.is_empty() && lower.contains(&name.to_lowercase()) {
        return Err(Weak::ContainsName);
    }
    Ok(())
}

fn is_common(lower: &str) -> bool {
    COMMON.lines().map(str::trim).any(|l| !l.is_empty() && !l.starts_with('#') && l == lower)
}

fn argon2() -> Argon2<'static> {
    // OWASP password storage recommendation for argon2id: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Could not hash a password.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No random salt could be had.
    #[error("cannot read random bytes from the operating system for a password salt: {0}")]
    Random(getrandom::Error),
    /// argon2 refused.
    #[error("cannot hash the password: {0}")]
    Argon2(argon2::password_hash::Error),
}

/// Hashes a password: an argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(HashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(HashError::Argon2)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Argon2)
}

/// Whether `password` matches the stored PHC string (false for a malformed one).
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification without any account, so that a login for an unknown or
/// disabled name takes as long as one for a real account.
pub fn verify_nothing(password: &str) {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("a password nobody has").unwrap_or_default());
    let _ = verify(phc, password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", "ann"), Err(Weak::TooShort));
        assert_eq!(check_policy("elevenchars", "ann"), Err(Weak::TooShort));
        assert_eq!(check_policy("Password1234", "ann"), Err(Weak::Common));
        assert_eq!(check_policy("aaaaaaaaaaaaaa", "ann"), Err(Weak::Repeated));
        assert_eq!(check_policy("my name is Reviewer1!", "reviewer1"), Err(Weak::ContainsName));
        assert_eq!(check_policy(&"ab".repeat(200), "ann"), Err(Weak::TooLong));
        assert_eq!(check_policy("plum tractor seventeen", "ann"), Ok(()));
        // Characters, not bytes: twelve accented letters are enough.
        assert_eq!(check_policy("éèêëéèêëéèêa", "ann"), Ok(()));
    }

    #[test]
    fn the_common_list_is_loaded() {
        let n = COMMON.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        assert!(n >= 100, "{n}");
        assert!(
            COMMON.lines().filter(|l| !l.starts_with('#')).all(|l| l == l.to_lowercase()),
            "the list is lower-case"
        );
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("plum tractor seventeen").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "plum tractor seventeen"));
        assert!(!verify(&h, "plum tractor seventeen "));
        assert!(!verify("not a hash", "x"));
        assert_ne!(h, hash("plum tractor seventeen").unwrap(), "salts differ");
    }
}
