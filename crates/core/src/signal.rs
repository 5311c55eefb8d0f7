//! Signal types: the algorithms a banked value can come from, each with one canonical byte form,
//! one text form, and (for perceptual types) a distance.
//!
//! Adding a signal type means adding a variant here with its [`SignalType::parse`],
//! [`SignalType::format`] and [`SignalType::distance`]; every store, import format and route then
//! accepts it. External types such as PhotoDNA are stored and exchanged as opaque bytes of a fixed
//! length, so a bank can carry them even where Spoor does not compute them.

use std::fmt;
use std::str::FromStr;

use crate::{parse_hex, Hash256, ParseHashError};

/// Largest accepted text form of any signal value (a vPDQ of a long video is the big one).
pub const MAX_VALUE_TEXT: usize = 8 << 20;

/// The kind of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalType {
    /// Meta's 256-bit perceptual image hash, 64 hex digits; matched by Hamming distance.
    Pdq,
    /// MD5 of the file bytes, 32 hex digits; matched exactly.
    Md5,
    /// SHA-1 of the file bytes, 40 hex digits; matched exactly.
    Sha1,
    /// SHA-256 of the file bytes, 64 hex digits; matched exactly.
    Sha256,
    /// Meta's video hash: one PDQ hash per sampled frame, in the reference's text form.
    Vpdq,
    /// Microsoft PhotoDNA: 144 bytes, external (carried, not computed).
    PhotoDna,
}

/// Every signal type, in a stable order.
pub const ALL_SIGNAL_TYPES: [SignalType; 6] = [
    SignalType::Pdq,
    SignalType::Md5,
    SignalType::Sha1,
    SignalType::Sha256,
    SignalType::Vpdq,
    SignalType::PhotoDna,
];

/// Why a signal type name or value is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// The signal type name is not one Spoor knows.
    #[error("unknown signal type {0:?}: known types are pdq, md5, sha1, sha256, vpdq, photodna")]
    UnknownType(String),
    /// A hex hash is malformed.
    #[error(transparent)]
    Hash(#[from] ParseHashError),
    /// Some other malformed value, with the reason.
    #[error("invalid {kind} value: {reason}")]
    Invalid {
        /// The signal type.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl SignalType {
    /// The lower-case name used in files, URLs and the database.
    pub const fn name(self) -> &'static str {
        match self {
            SignalType::Pdq => "pdq",
            SignalType::Md5 => "md5",
            SignalType::Sha1 => "sha1",
            SignalType::Sha256 => "sha256",
            SignalType::Vpdq => "vpdq",
            SignalType::PhotoDna => "photodna",
        }
    }

    /// Whether Spoor only carries this type (it cannot compute it from media).
    pub const fn is_external(self) -> bool {
        matches!(self, SignalType::PhotoDna)
    }

    /// Whether values match by a distance (perceptual) rather than by equality.
    pub const fn is_perceptual(self) -> bool {
        matches!(self, SignalType::Pdq | SignalType::Vpdq | SignalType::PhotoDna)
    }

    /// Parses a value's text form into its canonical bytes.
    ///
    /// Hex is accepted in either case. PhotoDNA is accepted as 288 hex digits, as base64, or as
    /// 144 comma-separated numbers 0–255. vPDQ is the reference's text form (see [`crate::vpdq`]).
    pub fn parse(self, text: &str) -> Result<Vec<u8>, SignalError> {
        let text = text.trim();
        Ok(match self {
            SignalType::Pdq => parse_hex::<32>(text, "pdq")?.to_vec(),
            SignalType::Md5 => parse_hex::<16>(text, "md5")?.to_vec(),
            SignalType::Sha1 => parse_hex::<20>(text, "sha1")?.to_vec(),
            SignalType::Sha256 => parse_hex::<32>(text, "sha256")?.to_vec(),
            SignalType::Vpdq => crate::vpdq::canonical(text)?.into_bytes(),
            SignalType::PhotoDna => parse_photodna(text)?,
        })
    }

    /// Checks that canonical bytes (as a store returns them) are a valid value of this type.
    pub fn check_bytes(self, bytes: &[u8]) -> Result<(), SignalError> {
        let want = match self {
            SignalType::Pdq | SignalType::Sha256 => 32,
            SignalType::Md5 => 16,
            SignalType::Sha1 => 20,
            SignalType::PhotoDna => PHOTODNA_LEN,
            SignalType::Vpdq => {
                let text = std::str::from_utf8(bytes).map_err(|_| SignalError::Invalid {
                    kind: "vpdq",
                    reason: "not UTF-8 text".into(),
                })?;
                crate::vpdq::parse(text)?;
                return Ok(());
            }
        };
        if bytes.len() == want {
            Ok(())
        } else {
            Err(SignalError::Invalid {
                kind: self.name(),
                reason: format!("{} bytes, expected {want}", bytes.len()),
            })
        }
    }

    /// The text form of canonical bytes: lower-case hex for hashes, base64 for PhotoDNA, the
    /// reference text for vPDQ.
    pub fn format(self, bytes: &[u8]) -> String {
        match self {
            SignalType::Vpdq => String::from_utf8_lossy(bytes).into_owned(),
            SignalType::PhotoDna => base64_encode(bytes),
            _ => {
                let mut s = String::with_capacity(bytes.len() * 2);
                for b in bytes {
                    use std::fmt::Write;
                    let _ = write!(s, "{b:02x}");
                }
                s
            }
        }
    }

    /// The distance between two canonical values of this type, for perceptual types: Hamming
    /// distance for PDQ, Euclidean distance (rounded down) for PhotoDNA. `None` for exact types,
    /// for vPDQ (matched as frame sets, see [`crate::vpdq`]) and for malformed input.
    pub fn distance(self, a: &[u8], b: &[u8]) -> Option<u32> {
        match self {
            SignalType::Pdq => {
                let a = Hash256::from_bytes(a.try_into().ok()?);
                let b = Hash256::from_bytes(b.try_into().ok()?);
                Some(a.distance(&b))
            }
            SignalType::PhotoDna if a.len() == PHOTODNA_LEN && b.len() == PHOTODNA_LEN => {
                let sum: u64 = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| {
                        let d = i64::from(x) - i64::from(y);
                        (d * d) as u64
                    })
                    .sum();
                Some((sum as f64).sqrt() as u32)
            }
            _ => None,
        }
    }
}

impl fmt::Display for SignalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignalType {
    type Err = SignalError;
    fn from_str(s: &str) -> Result<Self, SignalError> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "pdq" => SignalType::Pdq,
            "md5" => SignalType::Md5,
            "sha1" | "sha-1" => SignalType::Sha1,
            "sha256" | "sha-256" => SignalType::Sha256,
            "vpdq" => SignalType::Vpdq,
            "photodna" => SignalType::PhotoDna,
            _ => return Err(SignalError::UnknownType(s.to_string())),
        })
    }
}

/// Length of a PhotoDNA hash in bytes.
pub const PHOTODNA_LEN: usize = 144;

fn parse_photodna(text: &str) -> Result<Vec<u8>, SignalError> {
    let invalid = |reason: String| SignalError::Invalid { kind: "photodna", reason };
    let bytes = if text.contains(',') {
        text.split(',')
            .enumerate()
            .map(|(i, n)| {
                n.trim().parse::<u8>().map_err(|_| {
                    invalid(format!("number {} ({:?}) is not an integer 0-255", i + 1, n.trim()))
                })
            })
            .collect::<Result<Vec<u8>, _>>()?
    } else if text.len() == 2 * PHOTODNA_LEN && text.bytes().all(|c| c.is_ascii_hexdigit()) {
        parse_hex::<PHOTODNA_LEN>(text, "photodna")?.to_vec()
    } else {
        base64_decode(text).ok_or_else(|| {
            invalid("expected 144 comma-separated numbers, 288 hex digits or base64".into())
        })?
    };
    if bytes.len() != PHOTODNA_LEN {
        return Err(invalid(format!("{} bytes, expected {PHOTODNA_LEN}", bytes.len())));
    }
    Ok(bytes)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ALL_SIGNAL_TYPES {
            assert_eq!(t.name().parse::<SignalType>().unwrap(), t);
        }
        assert!(matches!("photo".parse::<SignalType>(), Err(SignalError::UnknownType(_))));
    }

    #[test]
    fn hashes_parse_and_format() {
        let pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let bytes = SignalType::Pdq.parse(&pdq.to_uppercase()).unwrap();
        assert_eq!(SignalType::Pdq.format(&bytes), pdq);
        assert!(SignalType::Md5.parse(pdq).is_err());
        assert_eq!(SignalType::Sha1.parse(&"ab".repeat(20)).unwrap().len(), 20);
        assert_eq!(SignalType::Pdq.distance(&bytes, &bytes), Some(0));
    }

    #[test]
    fn photodna_forms_agree() {
        let raw: Vec<u8> = (0..144u32).map(|i| (i * 7 % 256) as u8).collect();
        let csv = raw.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",");
        let b64 = base64_encode(&raw);
        let hex = SignalType::Md5.format(&raw);
        for form in [&csv, &b64, &hex] {
            assert_eq!(SignalType::PhotoDna.parse(form).unwrap(), raw, "{form}");
        }
        assert_eq!(SignalType::PhotoDna.format(&raw), b64);
        assert!(SignalType::PhotoDna.parse("1,2,3").is_err());
        assert!(SignalType::PhotoDna.parse("not base64!").is_err());
        let mut other = raw.clone();
        other[0] = other[0].wrapping_add(3);
        other[1] = other[1].wrapping_add(4);
        assert_eq!(SignalType::PhotoDna.distance(&raw, &other), Some(5));
    }
}
