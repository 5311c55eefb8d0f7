//! API keys: `spoor_<key id>_<secret>`. The key id is public (it names the key in logs and
//! lookups); the secret is 32 random bytes, stored only as its SHA-256 and compared in constant
//! time. Keys are cached in memory and re-read from the store every second, so a new or revoked
//! key takes effect within a second on every replica. The cache remembers when it was last read
//! successfully, so the service can refuse to trust keys it has not been able to re-read (a key
//! revoked meanwhile would otherwise keep working).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use spoor_bank::{Role, Store};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Keys are made in `spoor-bank`, so the console (which the service depends on) can make them
/// too.
pub use spoor_bank::keys::{generate, NewKey};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's name.
    pub name: Arc<str>,
    /// The actor recorded for its writes and in the audit log: `key:<name>`.
    pub actor: Arc<str>,
    /// The key's public id.
    pub key_id: Arc<str>,
    /// What it may do.
    pub role: Role,
    /// Banks it may match (`None`: all).
    pub banks: Option<Arc<std::collections::HashSet<String>>>,
    /// Whether its match answers carry exact distances: admin and curator keys, and matcher
    /// keys made with `--show-distance`.
    pub show_distance: bool,
}

impl Principal {
    /// Fails unless the role is one of `allowed`.
    pub fn require(&self, allowed: &[Role], what: &str) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} key {:?} may not {what}",
                self.role.name(),
                &*self.name
            )))
        }
    }
}

struct Cached {
    principal: Principal,
    secret_hash: [u8; 32],
}

/// The in-memory key table.
pub struct KeyCache {
    keys: RwLock<HashMap<String, Cached>>,
    /// When the keys were last read from the store successfully.
    refreshed: Mutex<Instant>,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache { keys: RwLock::default(), refreshed: Mutex::new(Instant::now()) }
    }
}

impl KeyCache {
    /// How long ago the keys were last read from the store successfully (since the cache was
    /// made, when never).
    pub fn age(&self) -> Duration {
        self.refreshed.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// Re-reads every key from the store; on success, the keys' [`age`](Self::age) starts again
    /// from zero.
    pub fn refresh(&self, store: &dyn Store) -> Result<usize, spoor_bank::BankError> {
        let mut map = HashMap::new();
        for (k, hash) in store.keys()? {
            if k.revoked_at.is_some() {
                continue;
            }
            let Ok(secret_hash) = <[u8; 32]>::try_from(hash.as_slice()) else { continue };
            let principal = Principal {
                actor: format!("key:{}", k.name).into(),
                name: k.name.as_str().into(),
                key_id: k.key_id.as_str().into(),
                role: k.role,
                banks: k.banks.map(|b| Arc::new(b.into_iter().collect())),
                show_distance: k.show_distance || matches!(k.role, Role::Admin | Role::Curator),
            };
            map.insert(k.key_id, Cached { principal, secret_hash });
        }
        let n = map.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = map;
        *self.refreshed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(n)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        let missing = || {
            ApiError::unauthorized(
                "missing API key: send `Authorization: Bearer spoor_…` (keys are made with `spoor keys create`)",
            )
        };
        let value = header.ok_or_else(missing)?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(missing)?
            .trim();
        let invalid = || ApiError::unauthorized("invalid or revoked API key");
        let rest = key.strip_prefix("spoor_").ok_or_else(invalid)?;
        let (key_id, secret) = rest.split_once('_').ok_or_else(invalid)?;
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        match keys.get(key_id) {
            Some(c) if bool::from(c.secret_hash.ct_eq(&presented)) => Ok(c.principal.clone()),
            Some(_) => Err(invalid()),
            None => {
                // Same work as a known id, so timing does not tell ids apart either.
                let _ = [0u8; 32].ct_eq(&presented);
                Err(invalid())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_their_secret() {
        let a = generate("a", Role::Matcher, None, false, "t").unwrap();
        let b = generate("b", Role::Matcher, None, true, "t").unwrap();
        assert!(!a.record.show_distance && b.record.show_distance);
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(&format!("spoor_{}_", a.record.key_id)));
        let secret = a.key.rsplit('_').next().unwrap();
        assert_eq!(a.secret_hash, <[u8; 32]>::from(Sha256::digest(secret.as_bytes())));
        assert_eq!(a.key.len(), "spoor_".len() + 12 + 1 + 64);
    }
}
