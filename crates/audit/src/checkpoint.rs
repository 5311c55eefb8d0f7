//! Signed checkpoints: the log's head (sequence number and hash) signed with Ed25519, so that a
//! log whose tail was cut, or which was rewritten and re-chained, no longer matches a checkpoint
//! kept elsewhere. Keys are PKCS#8 PEM files (readable by other tools, e.g. `openssl pkey`).

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, Verifier as _};
use serde::{Deserialize, Serialize};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{hex, parse_hex, rfc3339, AuditError, Digest};

/// The format tag a checkpoint's signed message starts with.
const FORMAT: &[u8] = b"spoor-audit-checkpoint/1\0";

/// A signed statement: "the audit log's record `seq` had hash `hash` at time `at`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head's sequence number.
    pub seq: i64,
    /// The head's hash.
    pub hash: Digest,
    /// When it was signed (milliseconds since the epoch, UTC).
    pub at: i64,
    /// The public half of the key that signed.
    pub public_key: [u8; 32],
    /// The Ed25519 signature of [`Checkpoint::message`].
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// Signs the head `(seq, hash)` at time `at`.
    pub fn sign(key: &SigningKey, seq: i64, hash: Digest, at: i64) -> Checkpoint {
        let message = message(seq, &hash, at);
        Checkpoint {
            seq,
            hash,
            at,
            public_key: key.verifying_key().to_bytes(),
            signature: key.sign(&message).to_bytes(),
        }
    }

    /// The signed bytes: the format tag, `seq`, the hash, `at` (integers 8-byte big-endian).
    pub fn message(&self) -> Vec<u8> {
        message(self.seq, &self.hash, self.at)
    }

    /// Checks the signature, and with `trusted`, that it was made by that key. Without a
    /// trusted key a checkpoint only proves it was not altered since it was signed by its key.
    pub fn verify(&self, trusted: Option<&VerifyingKey>) -> Result<(), AuditError> {
        let key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| {
            AuditError::Checkpoint(format!(
                "the checkpoint at record {} names an invalid public key",
                self.seq
            ))
        })?;
        if let Some(t) = trusted {
            if t.as_bytes() != key.as_bytes() {
                return Err(AuditError::Checkpoint(format!(
                    "the checkpoint at record {} was signed by key {}, not by the trusted key {}",
                    self.seq,
                    hex(&self.public_key),
                    hex(t.as_bytes())
                )));
            }
        }
        key.verify(&self.message(), &Signature::from_bytes(&self.signature)).map_err(|_| {
            AuditError::Checkpoint(format!(
                "the checkpoint at record {} has a signature that does not verify: it was altered",
                self.seq
            ))
        })
    }

    /// The JSON form written by `spoor audit checkpoint`.
    pub fn to_json(&self) -> String {
        let f = CheckpointFile {
            format: "spoor-audit-checkpoint/1".into(),
            seq: self.seq,
            hash: hex(&self.hash),
            at: rfc3339(self.at),
            at_ms: self.at,
            public_key: hex(&self.public_key),
            signature: hex(&self.signature),
        };
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string_pretty(&f).unwrap_or_default()
    }

    /// Reads the JSON form.
    pub fn from_json(text: &str) -> Result<Checkpoint, AuditError> {
        let f: CheckpointFile = serde_json::from_str(text).map_err(|e| {
            AuditError::Checkpoint(format!(
                "not a checkpoint file ({e}); make one with `spoor audit checkpoint`"
            ))
        })?;
        if f.format != "spoor-audit-checkpoint/1" {
            return Err(AuditError::Checkpoint(format!(
                "unknown checkpoint format {:?}: this version reads spoor-audit-checkpoint/1",
                f.format
            )));
        }
        Ok(Checkpoint {
            seq: f.seq,
            hash: parse_hex("hash", &f.hash)?,
            at: f.at_ms,
            public_key: parse_hex("public_key", &f.public_key)?,
            signature: parse_hex("signature", &f.signature)?,
        })
    }
}

fn message(seq: i64, hash: &Digest, at: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(FORMAT.len() + 48);
    m.extend_from_slice(FORMAT);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&at.to_be_bytes());
    m
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    format: String,
    seq: i64,
    hash: String,
    at: String,
    at_ms: i64,
    public_key: String,
    signature: String,
}

/// Makes a new signing key from the operating system's random source.
pub fn generate_key() -> Result<SigningKey, AuditError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| AuditError::Checkpoint(format!("cannot get random bytes for a key: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The key as PKCS#8 PEM text (private: keep it off the database server).
pub fn key_to_pem(key: &SigningKey) -> Result<String, AuditError> {
    key.to_pkcs8_pem(Default::default())
        .map(|p| p.to_string())
        .map_err(|e| AuditError::Checkpoint(format!("cannot encode the key: {e}")))
}

/// The public half as SPKI PEM text.
pub fn public_key_to_pem(key: &VerifyingKey) -> Result<String, AuditError> {
    key.to_public_key_pem(Default::default())
        .map_err(|e| AuditError::Checkpoint(format!("cannot encode the public key: {e}")))
}

/// Reads a signing key from a PKCS#8 PEM file.
pub fn read_key(path: &Path) -> Result<SigningKey, AuditError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AuditError::Checkpoint(format!("cannot read the key file {}: {e}", path.display()))
    })?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        AuditError::Checkpoint(format!(
            "{} is not an Ed25519 private key in PKCS#8 PEM ({e}); make one with `spoor audit keygen`",
            path.display()
        ))
    })
}

/// Reads a public key: SPKI PEM, or 64 hex digits.
pub fn read_public_key(text: &str) -> Result<VerifyingKey, AuditError> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(t)
            .map_err(|e| AuditError::Checkpoint(format!("not an Ed25519 public key in PEM: {e}")));
    }
    let bytes: [u8; 32] = parse_hex("the public key", t)?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| AuditError::Checkpoint("the public key is not a valid Ed25519 point".into()))
}
