//! The text form of a whole video's vPDQ signal, as python-threatexchange and HMA bank it: a JSON
//! array of strings, one per sampled frame, each `PDQ_HEX,QUALITY,TIMESTAMP_SECONDS`:
//!
//! ```text
//! ["f8f8…9b22,100,0.000","f8f8…9b20,97,1.000"]
//! ```
//!
//! [`parse`] accepts any spacing and any decimal form of the timestamp; [`format`] writes the
//! compact form above, timestamps with three decimals.

use crate::signal::SignalError;
use crate::Hash256;

/// Largest number of frames one vPDQ value may hold (a day of video at one frame a second).
pub const MAX_FRAMES: usize = 86_400;

/// One sampled frame of a video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpdqFrame {
    /// The frame's PDQ hash.
    pub hash: Hash256,
    /// PDQ quality, 0–100.
    pub quality: u8,
    /// Seconds from the start of the video.
    pub timestamp: f64,
}

fn invalid(reason: impl Into<String>) -> SignalError {
    SignalError::Invalid { kind: "vpdq", reason: reason.into() }
}

fn parse_frame(s: &str, n: usize) -> Result<VpdqFrame, SignalError> {
    let mut parts = s.split(',');
    let (Some(hex), Some(q), Some(t), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!(
            "frame {n} is {s:?}: expected three comma-separated fields PDQ_HEX,QUALITY,TIMESTAMP"
        )));
    };
    let hash: Hash256 = hex.trim().parse().map_err(|e| invalid(format!("frame {n}: {e}")))?;
    let quality = q
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|q| *q <= 100)
        .ok_or_else(|| invalid(format!("frame {n}: quality {q:?} is not an integer 0-100")))?;
    let timestamp =
        t.trim().parse::<f64>().ok().filter(|t| t.is_finite() && *t >= 0.0).ok_or_else(|| {
            invalid(format!("frame {n}: timestamp {t:?} is not a number of seconds >= 0"))
        })?;
    Ok(VpdqFrame { hash, quality, timestamp })
}

/// Parses the JSON-array text form.
pub fn parse(text: &str) -> Result<Vec<VpdqFrame>, SignalError> {
    let body =
        text.trim().strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or_else(|| {
            invalid("expected a JSON array of \"PDQ_HEX,QUALITY,TIMESTAMP\" strings")
        })?;
    let mut frames = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('"').ok_or_else(|| {
            invalid(format!("frame {}: expected a quoted string", frames.len() + 1))
        })?;
        let end = inner
            .find('"')
            .ok_or_else(|| invalid(format!("frame {}: unterminated string", frames.len() + 1)))?;
        if frames.len() == MAX_FRAMES {
            return Err(invalid(format!("more than {MAX_FRAMES} frames")));
        }
        frames.push(parse_frame(&inner[..end], frames.len() + 1)?);
        rest = inner[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(invalid("trailing comma after the last frame"));
            }
        } else if !rest.is_empty() {
            return Err(invalid(format!("frame {}: expected ',' or ']'", frames.len())));
        }
    }
    if frames.is_empty() {
        return Err(invalid("no frames"));
    }
    Ok(frames)
}

/// Writes the compact text form.
pub fn format(frames: &[VpdqFrame]) -> String {
    let mut out = String::with_capacity(2 + frames.len() * 80);
    out.push('[');
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&std::format!("\"{},{},{:.3}\"", f.hash, f.quality, f.timestamp));
    }
    out.push(']');
    out
}

/// Parses and rewrites in the compact form, so equal signals are stored as equal bytes.
pub fn canonical(text: &str) -> Result<String, SignalError> {
    Ok(format(&parse(text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    #[test]
    fn python_threatexchange_form_round_trips() {
        // json.dumps with its default ", " separator and Python's 3-significant-digit timestamps.
        let text = format!("[\"{A},100,0.0\", \"{A},97,1.23e+02\"]");
        let frames = parse(&text).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].quality, 97);
        assert_eq!(frames[1].timestamp, 123.0);
        let c = canonical(&text).unwrap();
        assert_eq!(c, format!("[\"{A},100,0.000\",\"{A},97,123.000\"]"));
        assert_eq!(canonical(&c).unwrap(), c);
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "[]",
            "[\"x\"]",
            &format!("[\"{A},101,0\"]"),
            &format!("[\"{A},1,-1\"]"),
            &format!("[\"{A},1,0\",]"),
            &format!("[\"{A},1,0\" \"{A},1,0\"]"),
            &format!("[\"{A},1,0]"),
            &format!("[\"{A},1,NaN\"]"),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
