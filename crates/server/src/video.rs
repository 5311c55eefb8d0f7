//! Videos submitted as cases: told apart from other files by their first bytes, hashed with
//! vPDQ through `ffmpeg` (as `spoor hash` does), and a few key frames kept for the reviewer's
//! rendition, so that the console never decodes a video.
//!
//! `ffmpeg` and `ffprobe` read a file, not memory: the upload is written to a private temporary
//! file (mode 0600, in a directory of its own, mode 0700, under the system's temporary directory,
//! `TMPDIR`), which is removed as soon as hashing ends, whatever its outcome. Point `TMPDIR` at a
//! memory file system (tmpfs) to keep even that copy off the disk.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use spoor_case::keyframes::{self, KeyFramePicker};
use spoor_core::vpdq::VpdqFrame;

use crate::error::ApiError;
use crate::work::Budget;

/// How uploaded videos are decoded (`spoor serve --ffmpeg`, `--video-timeout`,
/// `--max-video-frames`; the frame size limit is `--max-pixels`).
#[derive(Debug, Clone)]
pub struct VideoConfig {
    /// The `ffmpeg` program; `ffprobe` is looked for beside it (or on `PATH`).
    pub ffmpeg: std::path::PathBuf,
    /// Longest time decoding one video may take; past it, the case is made from the file's
    /// digests alone, saying so.
    pub timeout: Duration,
    /// Most frames decoded of one video (at its own frame rate).
    pub max_frames: u64,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            ffmpeg: "ffmpeg".into(),
            timeout: Duration::from_secs(20),
            max_frames: 100_000,
        }
    }
}

/// Whether a file's first bytes are those of a video container: MP4/QuickTime (`ftyp`, but
/// not the still-image brands of HEIF and AVIF), Matroska/WebM (EBML), AVI (`RIFF….AVI `), and
/// the other containers `spoor_media::video::is_video` knows (FLV, ASF, MPEG streams). Image
/// formats Spoor decodes are never videos.
pub fn is_video(head: &[u8]) -> bool {
    if spoor_media::sniff(head).is_some() {
        return false;
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        let still = matches!(brand, b"avif" | b"heic" | b"heix" | b"mif1" | b"heim" | b"heis");
        return !still;
    }
    spoor_media::video::is_video(head)
}

/// A video's vPDQ and its key frames, as kept with its case.
#[derive(Debug)]
pub struct HashedVideo {
    /// The hashed frames (one a second), for matching.
    pub vpdq: Vec<VpdqFrame>,
    /// The key frames for review ([`keyframes::encode`]'s form).
    pub key_frames: Vec<u8>,
}

/// Hashes `bytes` as a video, on the calling (blocking) thread: `Ok(Ok(video))`, or
/// `Ok(Err(why))` when it is not a video `ffmpeg` can read (or `ffmpeg` is missing), `why` a
/// sentence saying what to do; `Err` when the work budget ran out (or the client went away), or
/// the private copy could not be written.
pub fn hash(
    bytes: &[u8],
    config: &VideoConfig,
    max_pixels: u64,
    budget: &Budget,
) -> Result<Result<HashedVideo, String>, ApiError> {
    let options = spoor_vpdq::Options {
        video: spoor_vpdq::VideoOptions {
            ffmpeg: config.ffmpeg.clone(),
            max_pixels,
            max_frames: config.max_frames,
            timeout: config.timeout,
            scale: None,
        },
        ..Default::default()
    };
    let mut picker = KeyFramePicker::new();
    let mut stopped = None;
    let hashed = with_private_copy(bytes, |path| {
        spoor_vpdq::hash_file_with(path, &options, |_, frame| {
            if let Err(e) = budget.check() {
                stopped = Some(e);
                return false;
            }
            if let Err(e) = picker.offer(frame.width, frame.height, frame.rgb) {
                tracing::warn!(error = %e, "a video frame could not be kept for review");
            }
            true
        })
    })
    .map_err(|e| {
        tracing::error!(error = %e, "cannot write an uploaded video to a private temporary file");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "the video could not be hashed now (the service could not write its \
                      temporary copy): try again later; the server log has the details"
                .into(),
        }
    })?;
    if let Some(e) = stopped {
        return Err(e);
    }
    let video = match hashed {
        Ok(v) => v,
        Err(e) => return Ok(Err(explain(&e))),
    };
    let frames = picker.finish();
    if frames.is_empty() {
        return Ok(Err("the video has no frame that could be hashed".into()));
    }
    Ok(Ok(HashedVideo { vpdq: video.features(), key_frames: keyframes::encode(&frames) }))
}

/// What a submitter reads when a video could not be hashed.
fn explain(e: &spoor_vpdq::VideoError) -> String {
    use spoor_vpdq::VideoError as V;
    let what = match e {
        V::NoFfmpeg(_) => " (for the service's operator to do)",
        V::Spawn { .. } => {
            "; the service's operator must make FFmpeg runnable (or start spoor serve with \
             --ffmpeg PATH)"
        }
        V::Timeout(_) => {
            "; the service's limit is --video-timeout (within --match-budget-ms): send a shorter \
             video, or ask its operator to raise them"
        }
        V::TooManyPixels { .. } => "; send a smaller video, or ask the service's operator",
        V::NoVideoStream | V::Unreadable(_) | V::Decode { .. } => {
            "; send the whole file, in a format FFmpeg reads"
        }
        // The service decodes; it never encodes.
        V::Encode { .. } => "",
    };
    format!("the file looks like a video but could not be hashed with vPDQ ({e}){what}")
}

/// Runs `f` on a private copy of `bytes` on disk: a file only this user may read (0600) in a
/// new directory of its own (0700) under the system's temporary directory. Both are removed
/// when `f` returns, whatever it returns, and when it panics.
fn with_private_copy<T>(bytes: &[u8], f: impl FnOnce(&Path) -> T) -> std::io::Result<T> {
    let dir = tempfile::Builder::new().prefix("spoor-video-").tempdir()?;
    let path = dir.path().join("upload");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(bytes)?;
    drop(file);
    let out = f(&path);
    if let Err(e) = dir.close() {
        tracing::error!(error = %e, "cannot remove the temporary copy of an uploaded video");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Videos are told by their containers' magic bytes; images (those Spoor decodes and the
    /// HEIF/AVIF stills that share MP4's box format) and other files are not videos.
    #[test]
    fn videos_are_sniffed_by_their_magic_bytes() {
        let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";
        let mov = b"\0\0\0\x14ftypqt  \0\0\x02\0qt  ";
        let m4v = b"\0\0\0\x1cftypM4V \0\0\0\x01M4V M4A mp42isom";
        let webm = [0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01];
        let avi = b"RIFF\x10\0\0\0AVI LIST";
        for (name, head) in [
            ("mp4", &mp4[..]),
            ("mov", &mov[..]),
            ("m4v", &m4v[..]),
            ("webm", &webm[..]),
            ("avi", &avi[..]),
        ] {
            assert!(is_video(head), "{name}");
        }
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf";
        let wav = b"RIFF\x10\0\0\0WAVEfmt ";
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ";
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        for (name, head) in [
            ("heic", &heic[..]),
            ("avif", &avif[..]),
            ("wav", &wav[..]),
            ("webp", &webp[..]),
            ("jpeg", &jpeg[..]),
            ("png", &png[..]),
            ("text", &b"hello, world"[..]),
            ("short riff", &b"RIFF\x10\0\0\0AV"[..]),
            ("empty", &b""[..]),
        ] {
            assert!(!is_video(head), "{name}");
        }
    }

    /// The copy ffmpeg reads is private (0600 in a 0700 directory) and gone afterwards, also
    /// when the work on it fails or panics.
    #[test]
    fn the_private_copy_is_private_and_removed() {
        let seen = std::cell::RefCell::new(Vec::new());
        let look = |path: &Path| {
            assert_eq!(std::fs::read(path).unwrap(), b"video bytes");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode(path), 0o600);
                assert_eq!(mode(path.parent().unwrap()), 0o700);
            }
            seen.borrow_mut().push(path.to_path_buf());
        };
        let out = with_private_copy(b"video bytes", |p| {
            look(p);
            Err::<(), _>("ffmpeg failed")
        })
        .unwrap();
        assert_eq!(out, Err("ffmpeg failed"));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_private_copy(b"video bytes", |p| {
                look(p);
                panic!("a decoder bug");
            })
        }));
        assert!(panicked.is_err());
        let seen = seen.into_inner();
        assert_eq!(seen.len(), 2);
        for p in seen {
            assert!(!p.exists() && !p.parent().unwrap().exists(), "{} was left", p.display());
        }
    }
}
