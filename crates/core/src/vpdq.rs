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

/// The frames that take part in matching: quality at least `quality`, each distinct hash once,
/// in order.
pub fn distinct_frames(frames: &[VpdqFrame], quality: u8) -> Vec<Hash256> {
    let mut seen = std::collections::HashSet::new();
    frames
        .iter()
        .filter(|f| f.quality >= quality)
        .map(|f| f.hash)
        .filter(|h| seen.insert(*h))
        .collect()
}

/// Bits of a frame id that number the frame within its video: an index of many videos' frames
/// gives frame `i` of video `v` the id `v << FRAME_BITS | i` (see [`frame_id`]), so at most
/// `1 << FRAME_BITS` frames of a video are indexed.
pub const FRAME_BITS: u32 = 17;

/// The id of frame `frame` of video `video` in a frame index.
pub fn frame_id(video: u64, frame: usize) -> u64 {
    (video << FRAME_BITS) | frame as u64
}

/// For each indexed video that any query frame comes near, how many of the query's frames
/// found it and how many of its own frames were found. `near` pushes the frame ids (see
/// [`frame_id`]) within the matching distance of a query frame.
pub fn frame_hits(
    query: &[Hash256],
    mut near: impl FnMut(&Hash256, &mut Vec<u64>),
) -> std::collections::HashMap<u64, (usize, usize)> {
    use std::collections::{HashMap, HashSet};
    let mut found: HashMap<u64, (HashSet<usize>, HashSet<u64>)> = HashMap::new();
    let mut ids = Vec::new();
    for (qi, q) in query.iter().enumerate() {
        ids.clear();
        near(q, &mut ids);
        for &id in &ids {
            let e = found.entry(id >> FRAME_BITS).or_default();
            e.0.insert(qi);
            e.1.insert(id);
        }
    }
    found.into_iter().map(|(video, (qs, fs))| (video, (qs.len(), fs.len()))).collect()
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
    fn frame_hits_count_each_side_once() {
        let h = |k: u64| Hash256::from_words([k, 0, 0, 0]);
        // Video 3 has frames 0 and 1; both query frames are near frame 0, one also near 1.
        let hits = frame_hits(&[h(1), h(2)], |q, out| {
            out.push(frame_id(3, 0));
            if *q == h(2) {
                out.extend([frame_id(3, 1), frame_id(5, 0)]);
            }
        });
        assert_eq!(hits[&3], (2, 2));
        assert_eq!(hits[&5], (1, 1));
        let f = |k: u64, q: u8| VpdqFrame { hash: h(k), quality: q, timestamp: 0.0 };
        assert_eq!(distinct_frames(&[f(1, 90), f(2, 10), f(1, 80), f(3, 50)], 50), [h(1), h(3)]);
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
