//! Second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps), as every
//! authenticator app reads it, and the enrolment QR code drawn as inline SVG by the server.
//!
//! A code is accepted for the current step and one step either side (clock drift); the step it
//! matched is returned so that the store can refuse a second use of it (replay guard).

use qrcode::{Color, EcLevel, QrCode};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds a code is valid for.
pub const STEP_SECS: u64 = 30;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Spoor";

/// A new random secret.
pub fn new_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut s = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut s)?;
    Ok(s)
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret.to_vec()).ok()
}

/// The secret in base32 (RFC 4648, no padding), as apps take it for manual entry.
pub fn base32(secret: &[u8]) -> String {
    match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(s) => s.trim_end_matches('=').to_string(),
        Secret::Raw(_) => String::new(),
    }
}

/// The base32 secret in groups of four, easier to type.
pub fn base32_grouped(secret: &[u8]) -> String {
    let b = base32(secret);
    b.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` URI an authenticator app scans. `name` follows the person-name rules
/// (letters, digits, `.`, `_`, `-`), so it needs no escaping.
pub fn otpauth_uri(name: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{name}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

/// The time step of `unix_secs`.
pub fn step_of(unix_secs: u64) -> i64 {
    (unix_secs / STEP_SECS) as i64
}

/// Checks `code` (digits, spaces allowed) at `unix_secs`: the time step it belongs to when it is
/// the code of the current step or one either side, else `None`.
pub fn verify(secret: &[u8], code: &str, unix_secs: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret)?;
    let now = step_of(unix_secs);
    let mut found = None;
    // Every candidate is compared, in constant time, so timing tells nothing.
    for step in [now - 1, now, now + 1] {
        if step < 0 {
            continue;
        }
        let expected = t.generate(step as u64 * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The code for `unix_secs` (for tests and tools).
pub fn code_at(secret: &[u8], unix_secs: u64) -> Option<String> {
    Some(totp(secret)?.generate(unix_secs))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The QR code of `data` as an SVG element: one path of dark modules on a white square with a
/// four-module quiet zone; no scripts, no styles, so it passes the console's CSP.
pub fn qr_svg(data: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let w = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let size = w + 2 * quiet;
    let mut path = String::new();
    for y in 0..w {
        let mut x = 0;
        while x < w {
            if colors[y * w + x] == Color::Dark {
                let start = x;
                while x < w && colors[y * w + x] == Color::Dark {
                    x += 1;
                }
                path.push_str(&format!(
                    "M{} {}h{}v1h-{}z",
                    start + quiet,
                    y + quiet,
                    x - start,
                    x - start
                ));
            } else {
                x += 1;
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{px}\" \
         height=\"{px}\" role=\"img\" aria-label=\"QR code for your authenticator app\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>",
        px = size * 5
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (8 digits there; the last 6 of each are ours).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, code8) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(secret, t).unwrap(), code8[2..], "t={t}");
            assert_eq!(verify(secret, &code8[2..], t), Some(step_of(t)));
        }
    }

    #[test]
    fn window_and_format() {
        let s = [7u8; 20];
        let t = 1_700_000_000;
        let prev = code_at(&s, t - 30).unwrap();
        let next = code_at(&s, t + 30).unwrap();
        let old = code_at(&s, t - 60).unwrap();
        assert_eq!(verify(&s, &prev, t), Some(step_of(t) - 1));
        assert_eq!(verify(&s, &next, t), Some(step_of(t) + 1));
        if old != prev && old != next && old != code_at(&s, t).unwrap() {
            assert_eq!(verify(&s, &old, t), None);
        }
        let now = code_at(&s, t).unwrap();
        assert_eq!(verify(&s, &format!("{} {}", &now[..3], &now[3..]), t), Some(step_of(t)));
        assert_eq!(verify(&s, "12345", t), None);
        assert_eq!(verify(&s, "12345a", t), None);
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 test vector: "foobar" is MZXW6YTBOI.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_grouped(b"foobar"), "MZXW 6YTB OI");
        let uri = otpauth_uri("reviewer1", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Spoor:reviewer1?secret=MZXW6YTBOI&issuer=Spoor&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_is_plain_svg() {
        let svg = qr_svg("otpauth://totp/Spoor:a?secret=MZXW6YTBOI").unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style") && !svg.contains("script"));
        assert!(svg.matches('M').count() > 20, "modules are drawn");
    }
}
