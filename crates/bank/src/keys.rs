//! Making API keys: `spoor_<key id>_<secret>`. The key id is public (it names the key in logs
//! and lookups); the secret is 32 random bytes, stored only as its SHA-256. The service, the
//! command line and the console all make keys here; the store keeps the record and the hash
//! ([`crate::Store::create_key`]), never the key itself.

use sha2::{Digest, Sha256};

use crate::model::{check_text, now_ms, ApiKey, Role};

/// A freshly made key: its record, the key to hand out (once), and the hash to store.
pub struct NewKey {
    /// The record.
    pub record: ApiKey,
    /// `spoor_<id>_<secret>`: shown once, never stored.
    pub key: String,
    /// SHA-256 of the secret part.
    pub secret_hash: [u8; 32],
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself: it could end up in a log.
        f.debug_struct("NewKey").field("record", &self.record).finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a key for `name` with `role`, optionally limited to `banks` (matcher keys). With
/// `show_distance` a matcher key's answers carry exact PDQ distances (admin and curator keys
/// always get them: they may read the lists anyway).
pub fn generate(
    name: &str,
    role: Role,
    banks: Option<Vec<String>>,
    show_distance: bool,
    created_by: &str,
) -> Result<NewKey, getrandom::Error> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let key_id = hex(&id);
    let secret = hex(&secret);
    let secret_hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    Ok(NewKey {
        record: ApiKey {
            key_id: key_id.clone(),
            name: name.to_string(),
            role,
            banks,
            created_by: created_by.to_string(),
            created_at: now_ms(),
            revoked_by: None,
            revoked_at: None,
            show_distance,
        },
        key: format!("spoor_{key_id}_{secret}"),
        secret_hash,
    })
}

/// Checks a key's name as the store does when it stores the key (it is recorded as the actor
/// `key:NAME` of the key's changes): not empty, at most 256 bytes, no control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the key's name is empty".into());
    }
    check_text("the key's name", name, 256)
}

/// Checks the options of a new key as `spoor keys create` does: a bank scope and exact
/// distances apply to matcher keys only.
pub fn check_options(role: Role, scoped: bool, show_distance: bool) -> Result<(), String> {
    if scoped && !matches!(role, Role::Matcher | Role::Exchange) {
        return Err(format!(
            "a bank scope limits what a matcher key may match or an exchange key may read: it \
             applies to matcher and exchange keys only, not to {} keys",
            role.name()
        ));
    }
    if role == Role::Exchange && !scoped {
        return Err("an exchange key reads the change log of the banks it is scoped to: name \
                    them"
            .into());
    }
    if show_distance && role != Role::Matcher {
        return Err("exact distances apply to matcher keys only (admin and curator keys always \
                    see distances; hasher and auditor keys cannot match)"
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_their_secret() {
        let a = generate("hoster", Role::Matcher, Some(vec!["A".into()]), true, "cli:x").unwrap();
        let b = generate("hoster", Role::Matcher, None, false, "cli:x").unwrap();
        assert_ne!(a.key, b.key);
        let parts: Vec<&str> = a.key.splitn(3, '_').collect();
        assert_eq!(parts[0], "spoor");
        assert_eq!(parts[1], a.record.key_id);
        assert_eq!(parts[1].len(), 12);
        assert_eq!(parts[2].len(), 64);
        let h: [u8; 32] = Sha256::digest(parts[2].as_bytes()).into();
        assert_eq!(h, a.secret_hash);
        assert_eq!(a.record.banks.as_deref(), Some(&["A".to_string()][..]));
        assert!(a.record.show_distance && a.record.revoked_at.is_none());
        assert!(!format!("{a:?}").contains(parts[2]), "Debug never shows the secret");
    }

    #[test]
    fn names_and_options() {
        assert!(check_name("hoster-1").is_ok());
        assert!(check_name("  ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(257)).is_err());
        assert!(check_options(Role::Matcher, true, true).is_ok());
        assert!(check_options(Role::Curator, true, false)
            .unwrap_err()
            .contains("matcher and exchange keys only"));
        assert!(check_options(Role::Exchange, true, false).is_ok());
        assert!(check_options(Role::Exchange, false, false).unwrap_err().contains("scoped"));
        assert!(check_options(Role::Exchange, true, true).is_err());
        assert!(check_options(Role::Hasher, false, true).is_err());
        assert!(check_options(Role::Admin, false, false).is_ok());
    }
}
