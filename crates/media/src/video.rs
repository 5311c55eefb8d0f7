//! Video frames through an `ffmpeg` subprocess: no FFmpeg library is linked, so a plain
//! `cargo build` needs none. `ffprobe` (beside `ffmpeg`) reads the stream's size and frame rate;
//! `ffmpeg` decodes the first video stream to raw RGB24 frames at that size on a pipe, exactly as
//! the vPDQ reference tools did to make their published hashes.
//!
//! A hostile file must not hang or exhaust the machine: the declared size is checked before
//! decoding starts (`max_pixels`), the number of frames is bounded (`max_frames`), and the
//! decoder is killed when it runs past `timeout`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a video could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// ffmpeg or ffprobe is not installed.
    #[error("{0} not found: install FFmpeg (Debian: apt install ffmpeg) or pass --ffmpeg PATH")]
    NoFfmpeg(String),
    /// The file has no video stream (not a video, or audio only).
    #[error("no video stream: not a video file, or one with audio only")]
    NoVideoStream,
    /// The file could not be read as a video at all.
    #[error("not a readable video: {0}")]
    Unreadable(String),
    /// The declared frame size is over the limit.
    #[error("{width}x{height} frames: more than the {max} pixels allowed (--max-pixels)")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// Decoding took too long and was stopped.
    #[error("decoding took longer than {0:?} and was stopped (a damaged or hostile file?)")]
    Timeout(Duration),
    /// The decoder failed part-way (a truncated or damaged file).
    #[error("decoding failed after {frames} frames: {message}")]
    Decode {
        /// Frames decoded before the failure.
        frames: u64,
        /// What ffmpeg said.
        message: String,
    },
    /// The encoder failed (an unknown codec, a full disk, an output it cannot write).
    #[error("encoding failed after {frames} frames: {message}")]
    Encode {
        /// Frames given to the encoder before the failure.
        frames: u64,
        /// What ffmpeg said.
        message: String,
    },
    /// Running ffmpeg failed.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How to decode.
#[derive(Debug, Clone)]
pub struct VideoOptions {
    /// The `ffmpeg` program; `ffprobe` is looked for beside it (or on `PATH`).
    pub ffmpeg: PathBuf,
    /// Largest frame, in pixels.
    pub max_pixels: u64,
    /// Most frames decoded (at the video's own rate) before stopping with an error.
    pub max_frames: u64,
    /// Longest decoding time. Probing a file (`ffprobe`) gets at most [`PROBE_TIMEOUT`] of it.
    pub timeout: Duration,
    /// Scale frames to this size instead of the video's own (the reference's `-s`).
    pub scale: Option<(u32, u32)>,
}

impl Default for VideoOptions {
    fn default() -> Self {
        VideoOptions {
            ffmpeg: PathBuf::from("ffmpeg"),
            max_pixels: 50_000_000,
            max_frames: 10_000_000,
            timeout: Duration::from_secs(600),
            scale: None,
        }
    }
}

/// Longest time `ffprobe` may take to read a file's headers before it is stopped.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process that a watchdog thread may kill while another thread reads its output.
///
/// The handle stays in the mutex until the child is reaped, so a kill always reaches our own
/// child: its process id cannot have been reused by another process before we wait for it.
#[derive(Clone)]
struct Watched(Arc<Mutex<Child>>);

impl Watched {
    fn lock(&self) -> std::sync::MutexGuard<'_, Child> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kill(&self) {
        // An error means the child has already exited: nothing to stop.
        let _ = self.lock().kill();
    }

    /// Waits for the child without holding the lock, so the watchdog can kill it meanwhile.
    fn wait(&self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.lock().try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts a thread that kills the child once `timeout` has passed, unless `done` is set
    /// first; it sets `timed_out` when it killed.
    fn watchdog(
        &self,
        timeout: Duration,
        done: Arc<AtomicBool>,
        timed_out: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                if start.elapsed() > timeout {
                    timed_out.store(true, Ordering::Release);
                    me.kill();
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    }
}

/// Reads a pipe to its end on a thread (at most `cap` bytes kept, the rest drained), so a child
/// never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static, cap: u64) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut pipe).take(cap).read_to_end(&mut buf);
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        buf
    })
}

/// What ffprobe says of the first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames a second (the average rate, or the base rate when that is unknown).
    pub fps: f64,
    /// Duration in seconds, when known.
    pub duration: Option<f64>,
}

/// One decoded frame.
pub struct Frame<'a> {
    /// 0-based index in decoding order.
    pub index: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// RGB24 pixels, row by row.
    pub rgb: &'a [u8],
}

/// Whether these first bytes look like a video container (MP4/MOV/3GP, Matroska/WebM, AVI,
/// FLV, ASF/WMV, MPEG program or transport stream).
pub fn is_video(head: &[u8]) -> bool {
    matches!(head, [_, _, _, _, b'f', b't', b'y', b'p', ..])
        || head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
        || (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"AVI ")
        || head.starts_with(b"FLV")
        || head.starts_with(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11])
        || head.starts_with(&[0x00, 0x00, 0x01, 0xBA])
        || (head.len() > 188 && head[0] == 0x47 && head[188] == 0x47)
}

fn ffprobe_for(ffmpeg: &Path) -> PathBuf {
    let sibling = ffmpeg.with_file_name(match ffmpeg.extension() {
        Some(ext) => format!("ffprobe.{}", ext.to_string_lossy()),
        None => "ffprobe".to_string(),
    });
    if ffmpeg.components().count() > 1 && sibling.exists() {
        sibling
    } else {
        PathBuf::from("ffprobe")
    }
}

fn spawn_error(program: &Path, e: std::io::Error) -> VideoError {
    if e.kind() == std::io::ErrorKind::NotFound {
        VideoError::NoFfmpeg(program.display().to_string())
    } else {
        VideoError::Spawn { program: program.display().to_string(), source: e }
    }
}

fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    (d != 0.0 && n > 0.0).then(|| n / d)
}

/// Reads the first video stream's size, rate and duration.
pub fn probe(path: &Path, options: &VideoOptions) -> Result<VideoInfo, VideoError> {
    let ffprobe = ffprobe_for(&options.ffmpeg);
    let mut child = Command::new(&ffprobe)
        // Only the file itself is read: a container naming other files or URLs (a playlist,
        // a reference movie) reads nothing else.
        .args(["-v", "error", "-protocol_whitelist", "file"])
        .args(["-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,avg_frame_rate,r_frame_rate,duration:format=duration")
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&ffprobe, e))?;
    let stdout = drain(child.stdout.take().expect("piped"), 1 << 20);
    let stderr = drain(child.stderr.take().expect("piped"), 64 * 1024);
    let child = Watched(Arc::new(Mutex::new(child)));
    let timeout = options.timeout.min(PROBE_TIMEOUT);
    let (done, timed_out) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let watchdog = child.watchdog(timeout, done.clone(), timed_out.clone());
    let status = child.wait();
    done.store(true, Ordering::Release);
    let _ = watchdog.join();
    let out = std::process::Output {
        status: status.map_err(|e| spawn_error(&ffprobe, e))?,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if timed_out.load(Ordering::Acquire) {
        return Err(VideoError::Timeout(timeout));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("ffprobe failed").trim();
        let first = first.rsplit(": ").next().unwrap_or(first);
        return Err(VideoError::Unreadable(first.to_string()));
    }
    let mut width = None;
    let mut height = None;
    let mut avg = None;
    let mut base = None;
    let mut duration = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "width" => width = v.parse::<u32>().ok(),
            "height" => height = v.parse::<u32>().ok(),
            "avg_frame_rate" => avg = parse_rate(v),
            "r_frame_rate" => base = parse_rate(v),
            "duration" => {
                duration = duration.or(v.parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0))
            }
            _ => {}
        }
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err(VideoError::NoVideoStream);
    };
    if width == 0 || height == 0 {
        return Err(VideoError::NoVideoStream);
    }
    let fps = avg.or(base).ok_or_else(|| VideoError::Unreadable("no frame rate".into()))?;
    Ok(VideoInfo { width, height, fps, duration })
}

/// Decodes every frame of the first video stream, calling `each` in order; `each` returns
/// false to stop early. Returns the number of frames decoded.
pub fn frames(
    path: &Path,
    info: &VideoInfo,
    options: &VideoOptions,
    mut each: impl FnMut(Frame<'_>) -> bool,
) -> Result<u64, VideoError> {
    let (w, h) = options.scale.unwrap_or((info.width, info.height));
    let pixels = u64::from(w) * u64::from(h);
    let declared = u64::from(info.width) * u64::from(info.height);
    if pixels > options.max_pixels || declared > options.max_pixels {
        return Err(VideoError::TooManyPixels {
            width: info.width,
            height: info.height,
            max: options.max_pixels,
        });
    }
    let mut child = Command::new(&options.ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
        .args(["-protocol_whitelist", "file", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-s", &format!("{w}x{h}")])
        // Accurate rounding in the YUV to RGB conversion reproduces the reference's published
        // frame hashes bit for bit on most frames (without it, about half differ by a few
        // bits); Lanczos is what the reference used to downscale.
        .args([
            "-sws_flags",
            if options.scale.is_some() { "lanczos+accurate_rnd" } else { "bicubic+accurate_rnd" },
        ])
        .args(["-f", "rawvideo", "-c:v", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&options.ffmpeg, e))?;
    // ffmpeg's messages, read on the side so a chatty decoder never blocks on a full pipe.
    let errors = drain(child.stderr.take().expect("piped"), 64 * 1024);
    let mut stdout = child.stdout.take().expect("piped");
    // The watchdog kills the decoder when it runs too long.
    let child = Watched(Arc::new(Mutex::new(child)));
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = child.watchdog(options.timeout, done.clone(), timed_out.clone());
    let frame_len = (pixels * 3) as usize;
    let mut buf = vec![0u8; frame_len];
    let mut index = 0u64;
    let mut stopped = false;
    let mut too_many = false;
    loop {
        match read_full(&mut stdout, &mut buf) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => break,
        }
        if index >= options.max_frames {
            too_many = true;
            break;
        }
        if !each(Frame { index, width: w, height: h, rgb: &buf }) {
            stopped = true;
            break;
        }
        index += 1;
    }
    if stopped || too_many {
        child.kill();
    }
    drop(stdout);
    let status = child.wait();
    done.store(true, Ordering::Release);
    let _ = watchdog.join();
    let messages = String::from_utf8_lossy(&errors.join().unwrap_or_default()).into_owned();
    if timed_out.load(Ordering::Acquire) {
        return Err(VideoError::Timeout(options.timeout));
    }
    if too_many {
        return Err(VideoError::Decode {
            frames: index,
            message: format!("more than {} frames (--max-frames)", options.max_frames),
        });
    }
    if stopped {
        return Ok(index);
    }
    let ok = status.map(|s| s.success()).unwrap_or(false);
    // ffmpeg goes on past damage (a truncated file decodes up to the cut and exits 0) but says
    // so: any error it reports makes the video's hash incomplete, hence an error here.
    let lines: Vec<&str> = messages.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if !ok || index == 0 || !lines.is_empty() {
        let pick = lines
            .iter()
            .find(|l| l.contains("partial file") || l.contains("truncat"))
            .or_else(|| lines.first())
            .map(|l| strip_context(l))
            .unwrap_or(if index == 0 { "no frame could be decoded" } else { "ffmpeg failed" });
        return Err(VideoError::Decode { frames: index, message: pick.to_string() });
    }
    Ok(index)
}

/// Writes a video file from RGB24 frames through an `ffmpeg` subprocess (for measuring: the
/// copies `spoor eval` makes). The codec and its settings are the caller's (`codec`, e.g.
/// `["-c:v", "libx264", "-crf", "23"]`); the output carries no metadata. The encoder is
/// killed when it runs past the options' `timeout`, or when the `Encoder` is dropped
/// unfinished.
pub struct Encoder {
    child: Watched,
    stdin: Option<std::process::ChildStdin>,
    errors: Option<std::thread::JoinHandle<Vec<u8>>>,
    done: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
    watchdog: Option<std::thread::JoinHandle<()>>,
    frame_len: usize,
    frames: u64,
    timeout: Duration,
}

impl Encoder {
    /// Starts encoding `width`×`height` frames at `fps` frames a second into `output`
    /// (replaced if it exists).
    pub fn start(
        output: &Path,
        width: u32,
        height: u32,
        fps: f64,
        codec: &[&str],
        options: &VideoOptions,
    ) -> Result<Encoder, VideoError> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels == 0 || pixels > options.max_pixels {
            return Err(VideoError::TooManyPixels { width, height, max: options.max_pixels });
        }
        if !(fps.is_finite() && fps > 0.0) {
            return Err(VideoError::Encode { frames: 0, message: format!("frame rate {fps}") });
        }
        let mut child = Command::new(&options.ffmpeg)
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{width}x{height}")])
            .args(["-r", &format!("{fps}"), "-i", "pipe:0", "-an"])
            .args(codec)
            .args(["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"])
            .arg(output)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&options.ffmpeg, e))?;
        let errors = drain(child.stderr.take().expect("piped"), 64 * 1024);
        let stdin = child.stdin.take();
        let child = Watched(Arc::new(Mutex::new(child)));
        let (done, timed_out) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let watchdog = child.watchdog(options.timeout, done.clone(), timed_out.clone());
        Ok(Encoder {
            child,
            stdin,
            errors: Some(errors),
            done,
            timed_out,
            watchdog: Some(watchdog),
            frame_len: (pixels * 3) as usize,
            frames: 0,
            timeout: options.timeout,
        })
    }

    /// Frames given so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Gives the encoder one frame (`width`×`height` RGB24 pixels, row by row).
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), VideoError> {
        use std::io::Write as _;
        if rgb.len() != self.frame_len {
            return Err(VideoError::Encode {
                frames: self.frames,
                message: format!(
                    "a frame of {} bytes where the size set at the start needs {}",
                    rgb.len(),
                    self.frame_len
                ),
            });
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(VideoError::Encode { frames: self.frames, message: "finished".into() });
        };
        if stdin.write_all(rgb).is_err() {
            // The encoder has stopped: `finish` says why.
            self.stdin = None;
            return Err(self.end().err().unwrap_or(VideoError::Encode {
                frames: self.frames,
                message: "the encoder stopped reading".into(),
            }));
        }
        self.frames += 1;
        Ok(())
    }

    /// Ends the stream and waits for the file to be written; returns the frames encoded.
    pub fn finish(mut self) -> Result<u64, VideoError> {
        self.stdin = None;
        self.end()
    }

    fn end(&mut self) -> Result<u64, VideoError> {
        self.stdin = None;
        let status = self.child.wait();
        self.done.store(true, Ordering::Release);
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        let messages = self
            .errors
            .take()
            .map(|e| String::from_utf8_lossy(&e.join().unwrap_or_default()).into_owned())
            .unwrap_or_default();
        if self.timed_out.load(Ordering::Acquire) {
            return Err(VideoError::Timeout(self.timeout));
        }
        let ok = status.map(|s| s.success()).unwrap_or(false);
        if !ok || self.frames == 0 {
            let first = messages.lines().map(str::trim).find(|l| !l.is_empty());
            let message = first.map(strip_context).unwrap_or(if self.frames == 0 {
                "no frame was given"
            } else {
                "ffmpeg failed"
            });
            return Err(VideoError::Encode { frames: self.frames, message: message.to_string() });
        }
        Ok(self.frames)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            self.stdin = None;
            self.child.kill();
            let _ = self.child.wait();
            self.done.store(true, Ordering::Release);
            if let Some(w) = self.watchdog.take() {
                let _ = w.join();
            }
        }
    }
}

/// The `ffmpeg` program's version line (`ffmpeg version 5.1.9-0+deb12u1 …` → `5.1.9-0+deb12u1`),
/// to record with figures that depend on its codecs.
pub fn ffmpeg_version(options: &VideoOptions) -> Result<String, VideoError> {
    let out = Command::new(&options.ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| spawn_error(&options.ffmpeg, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    Ok(first
        .strip_prefix("ffmpeg version ")
        .unwrap_or(first)
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string())
}

/// `[h264 @ 0x55…] Invalid NAL unit size` → `Invalid NAL unit size`.
fn strip_context(line: &str) -> &str {
    match (line.starts_with('['), line.find("] ")) {
        (true, Some(i)) => &line[i + 2..],
        _ => line,
    }
}

/// Fills `buf` completely; false at a clean end of stream before any byte of it.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => {
                return if n == 0 {
                    Ok(false)
                } else {
                    Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "partial frame"))
                }
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_magic() {
        assert_eq!(parse_rate("30000/1001").map(|r| (r * 1000.0).round()), Some(29970.0));
        assert_eq!(parse_rate("0/0"), None);
        assert!(is_video(b"\0\0\0\x20ftypisom\0\0\x02\0"));
        assert!(is_video(&[0x1A, 0x45, 0xDF, 0xA3, 1]));
        assert!(!is_video(b"\xff\xd8\xff\xe0"));
    }

    /// Held by each test that writes and runs fake tools. Linux refuses to run a file that is
    /// open for writing ("text file busy"), and a process forked by a parallel test while a
    /// script is being written holds it open until that child execs; one at a time avoids it.
    #[cfg(unix)]
    static FAKE_TOOLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A fake `ffmpeg` and `ffprobe` that never finish: a hung decoder must be stopped. The
    /// guard keeps other such tests out until the test ends.
    #[cfg(unix)]
    fn hanging_tools() -> (std::sync::MutexGuard<'static, ()>, tempfile::TempDir, VideoOptions) {
        use std::os::unix::fs::PermissionsExt;
        let guard = FAKE_TOOLS.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        for name in ["ffmpeg", "ffprobe"] {
            let p = dir.path().join(name);
            std::fs::write(&p, "#!/bin/sh\nexec sleep 300\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let options = VideoOptions {
            ffmpeg: dir.path().join("ffmpeg"),
            timeout: Duration::from_secs(1),
            ..VideoOptions::default()
        };
        (guard, dir, options)
    }

    #[cfg(unix)]
    #[test]
    fn a_hanging_probe_is_stopped() {
        let (_serial, _dir, options) = hanging_tools();
        let start = Instant::now();
        let r = probe(Path::new("/nonexistent.mp4"), &options);
        assert!(matches!(r, Err(VideoError::Timeout(t)) if t == Duration::from_secs(1)), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    }

    #[cfg(unix)]
    #[test]
    fn a_hanging_decoder_is_stopped() {
        let (_serial, _dir, options) = hanging_tools();
        let info = VideoInfo { width: 16, height: 16, fps: 25.0, duration: None };
        let start = Instant::now();
        let mut seen = 0;
        let r = frames(Path::new("/nonexistent.mp4"), &info, &options, |_| {
            seen += 1;
            true
        });
        assert!(matches!(r, Err(VideoError::Timeout(_))), "{r:?}");
        assert_eq!(seen, 0);
        assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    }
}
