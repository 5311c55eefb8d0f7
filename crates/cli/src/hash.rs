//! `spoor hash`: hash files, directories or standard input, in parallel, output in input order.

use crate::walk::{walk, Input};
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use spoor_hash::digest::{Hasher, Which};
use spoor_hash::pdq::{pdq, pdq_with_dihedral};
use spoor_media::{decode, Limits, Options};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON object a line.
    Jsonl,
    /// Aligned columns for people.
    Text,
}

/// How the hashes of an image's rotations and mirrors are made (`--dihedral[=dct|exact]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DihedralHow {
    /// From the image's one DCT, as the reference does (almost free; on textured images a
    /// turned copy's variant can land 30–100 bits away).
    Dct,
    /// Each of the eight turned and mirrored pixel grids hashed itself (eight hashes' work):
    /// a lossless turn or mirror has the original's hash exactly.
    Exact,
}

/// A signal `spoor hash` can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Signal {
    /// PDQ perceptual hash with its quality (images only).
    Pdq,
    /// MD5 of the file bytes.
    Md5,
    /// SHA-1 of the file bytes.
    Sha1,
    /// SHA-256 of the file bytes.
    Sha256,
}

/// Arguments of `spoor hash`.
#[derive(Args, Debug)]
pub struct HashArgs {
    /// Files, directories (hashed recursively, in name order) or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format [default: text on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Also output the PDQ hashes of the 8 rotations and mirrors (original, rot90, rot180,
    /// rot270, flipx, flipy, flip+1, flip-1).
    /// `--dihedral=exact` hashes the eight turned and mirrored pixel grids themselves.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "dct", value_name = "HOW")]
    pub dihedral: Option<DihedralHow>,
    /// Also look for a uniform frame around each image (a border of any colour, letterbox or
    /// pillarbox bars) and output it (`frame`: left, top, right, bottom in pixels) with the PDQ
    /// hash of what is inside it (`pdq_unframed`, `quality_unframed`).
    #[arg(long)]
    pub unframed: bool,
    /// Worker threads [default: all cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Signals to compute, comma-separated. Without pdq, any file is digested, image or not.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "pdq,md5,sha1,sha256")]
    pub signals: Vec<Signal>,
    /// Rotate/mirror images as their EXIF orientation tag says before hashing (by default
    /// the tag is ignored, as the reference tools and HMA do).
    #[arg(long)]
    pub exif_orient: bool,
    /// Decode only the luma plane of colour JPEGs: faster, but PDQ may differ from the
    /// reference's by a few more bits (mostly on low-quality images).
    #[arg(long)]
    pub jpeg_luma: bool,
    /// Refuse images with more pixels than this (checked from the header, before decoding).
    #[arg(long, value_name = "PIXELS", default_value_t = spoor_media::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Refuse files larger than this many bytes (suffixes K, M, G, KiB, MiB, GiB allowed).
    /// Videos are streamed and not held in memory; this bounds images.
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Video frames hashed a second for vPDQ (a number, or `all` for every frame).
    #[arg(long, value_name = "N|all", default_value = "1", value_parser = parse_fps)]
    pub vpdq_fps: VpdqFps,
    /// The ffmpeg program that decodes videos (ffprobe is looked for beside it).
    #[arg(long, env = "SPOOR_FFMPEG", value_name = "PATH", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    /// Stop decoding a video after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub video_timeout: u64,
}

/// `--vpdq-fps`: a rate, or every frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VpdqFps(pub Option<f64>);

pub fn parse_fps(s: &str) -> Result<VpdqFps, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(VpdqFps(None));
    }
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(VpdqFps(Some(f))),
        _ => Err(format!("invalid --vpdq-fps {s:?}: a positive number of frames a second, or all")),
    }
}

/// Parses a byte size such as `1048576`, `10M` or `512MiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number such as 100M or 1GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {s:?}: use K, M, G, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

/// One output record: a hashed file or a failure.
#[derive(Serialize, Debug, Default)]
struct Record {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_dihedral: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<[usize; 4]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_unframed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality_unframed: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpdq: Option<Vec<VpdqRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One hashed video frame.
#[derive(Serialize, Debug)]
struct VpdqRecord {
    frame: u64,
    timestamp: f64,
    pdq: String,
    quality: u8,
}

struct Config {
    pdq: bool,
    dihedral: Option<DihedralHow>,
    unframed: bool,
    which: Which,
    options: Options,
    video: spoor_vpdq::Options,
}

/// Hashes a video file: vPDQ (when PDQ is asked for) and the digests, streamed.
fn hash_video(
    path: &std::path::Path,
    mut file: std::fs::File,
    head: &[u8],
    cfg: &Config,
    rec: &mut Record,
) {
    if cfg.pdq {
        match spoor_vpdq::hash_file(path, &cfg.video) {
            Ok(v) => {
                rec.width = Some(v.width as usize);
                rec.height = Some(v.height as usize);
                rec.frames = Some(v.decoded_frames);
                rec.duration = v.duration.or(Some(v.decoded_frames as f64 / v.frame_rate));
                rec.vpdq = Some(
                    v.frames
                        .iter()
                        .map(|f| VpdqRecord {
                            frame: f.frame,
                            timestamp: (f.timestamp * 1000.0).round() / 1000.0,
                            pdq: f.hash.to_string(),
                            quality: f.quality,
                        })
                        .collect(),
                );
            }
            Err(e) => {
                rec.error = Some(e.to_string());
                return;
            }
        }
    }
    let mut h = Hasher::new(cfg.which);
    h.update(head);
    let digest = crate::files::digest_rest(&mut file, &mut h);
    if let Err(e) = digest {
        rec.error = Some(format!("cannot read: {e}"));
        return;
    }
    let (md5, sha1, sha256) = h.finish();
    rec.md5 = md5.map(|d| d.to_string());
    rec.sha1 = sha1.map(|d| d.to_string());
    rec.sha256 = sha256.map(|d| d.to_string());
}

/// The decoder's own "file too large" message, so both limits read alike.
fn too_big(size: u64, max: u64) -> String {
    spoor_media::DecodeError::FileTooLarge { size, max }.to_string()
}

/// Reads at most `max` bytes (one more tells that the input is larger, even if it grows
/// while being read).
fn read_bounded(
    reader: impl Read,
    max: u64,
    capacity: usize,
) -> std::io::Result<Result<Vec<u8>, String>> {
    let mut buf = Vec::with_capacity(capacity);
    reader.take(max + 1).read_to_end(&mut buf)?;
    Ok(if buf.len() as u64 > max { Err(too_big(buf.len() as u64, max)) } else { Ok(buf) })
}

/// What reading an input gave: the bytes of a file to decode, or an open video to stream.
enum Content {
    Bytes(Vec<u8>),
    Video(std::fs::File, Vec<u8>),
}

/// Reads an input whole, bounded by `max` — unless its head shows a video, which is left open
/// for streaming (a video can be far larger than any image).
fn read_input(input: &Input, max: u64) -> Result<Content, String> {
    match input {
        Input::Stdin => read_bounded(std::io::stdin().lock(), max, 0)
            .map_err(|e| format!("cannot read standard input: {e}"))?
            .map(Content::Bytes),
        Input::File(p) => {
            let mut f = std::fs::File::open(p).map_err(|e| format!("cannot open: {e}"))?;
            let mut head = [0u8; crate::files::HEAD];
            let n = crate::files::read_head(&mut f, &mut head)
                .map_err(|e| format!("cannot read: {e}"))?;
            if crate::files::is_video(&head[..n]) {
                return Ok(Content::Video(f, head[..n].to_vec()));
            }
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > max {
                return Err(too_big(len, max));
            }
            read_bounded((&head[..n]).chain(f), max, len as usize + 1)
                .map_err(|e| format!("cannot read: {e}"))?
                .map(Content::Bytes)
        }
        Input::Error(_, msg) => Err(msg.clone()),
    }
}

fn hash_one(input: &Input, cfg: &Config) -> Record {
    let mut rec = Record { path: input.display(), ..Record::default() };
    let bytes = match read_input(input, cfg.options.limits.max_file_bytes) {
        Ok(Content::Bytes(b)) => b,
        Ok(Content::Video(file, head)) => {
            if let Input::File(p) = input {
                hash_video(p, file, &head, cfg, &mut rec);
            }
            return rec;
        }
        Err(e) => {
            rec.error = Some(e);
            return rec;
        }
    };
    if cfg.pdq {
        let image = match decode(&bytes, &cfg.options) {
            Ok(i) => i,
            Err(e) => {
                rec.error = Some(e.to_string());
                return rec;
            }
        };
        rec.width = Some(image.width);
        rec.height = Some(image.height);
        if cfg.dihedral == Some(DihedralHow::Exact) {
            let p = pdq(image.pixels());
            let d = spoor_hash::pdq::pdq_dihedral_exact(image.pixels());
            rec.pdq = Some(p.hash.to_string());
            rec.quality = Some(p.quality);
            rec.pdq_dihedral = Some(d.hashes.iter().map(|h| h.to_string()).collect());
        } else if cfg.dihedral.is_some() {
            let (original, d) = pdq_with_dihedral(image.pixels());
            rec.pdq = Some(original.to_string());
            rec.quality = Some(d.quality);
            rec.pdq_dihedral = Some(d.hashes.iter().map(|h| h.to_string()).collect());
        } else {
            let p = pdq(image.pixels());
            rec.pdq = Some(p.hash.to_string());
            rec.quality = Some(p.quality);
        }
        if cfg.unframed {
            if let Some((f, p)) = spoor_hash::pdq::frame::pdq_unframed(image.pixels()) {
                rec.frame = Some([f.left, f.top, f.right, f.bottom]);
                rec.pdq_unframed = Some(p.hash.to_string());
                rec.quality_unframed = Some(p.quality);
            }
        }
    }
    let mut h = Hasher::new(cfg.which);
    h.update(&bytes);
    let (md5, sha1, sha256) = h.finish();
    rec.md5 = md5.map(|d| d.to_string());
    rec.sha1 = sha1.map(|d| d.to_string());
    rec.sha256 = sha256.map(|d| d.to_string());
    rec
}

fn write_text(out: &mut impl Write, rec: &Record) -> std::io::Result<()> {
    let mut cols: Vec<String> = Vec::new();
    if let Some(v) = &rec.vpdq {
        cols.push(format!("vpdq {} frames of {}", v.len(), rec.frames.unwrap_or(0)));
    }
    if let Some(p) = &rec.pdq {
        cols.push(p.clone());
        cols.push(format!("q{:<3}", rec.quality.unwrap_or(0)));
    }
    for d in [&rec.md5, &rec.sha1, &rec.sha256].into_iter().flatten() {
        cols.push(d.clone());
    }
    writeln!(out, "{}  {}", cols.join("  "), rec.path)?;
    if let Some(d) = &rec.pdq_dihedral {
        for (name, h) in spoor_hash::pdq::DIHEDRAL_NAMES.iter().zip(d) {
            writeln!(out, "  {h}  {name}")?;
        }
    }
    if let (Some(h), Some([l, t, r, b])) = (&rec.pdq_unframed, rec.frame) {
        let q = rec.quality_unframed.unwrap_or(0);
        writeln!(out, "  {h}  q{q:<3} unframed (frame left {l}, top {t}, right {r}, bottom {b})")?;
    }
    Ok(())
}

/// Runs `spoor hash`.
pub fn run(args: HashArgs) -> anyhow::Result<ExitCode> {
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Text
    } else {
        OutputFormat::Jsonl
    });
    let has = |s| args.signals.contains(&s);
    let cfg = Config {
        pdq: has(Signal::Pdq),
        dihedral: args.dihedral,
        unframed: args.unframed,
        which: Which {
            md5: has(Signal::Md5),
            sha1: has(Signal::Sha1),
            sha256: has(Signal::Sha256),
        },
        options: Options {
            limits: Limits { max_pixels: args.max_pixels, max_file_bytes: args.max_file_size },
            exif_orient: args.exif_orient,
            jpeg_luma_only: args.jpeg_luma,
        },
        video: spoor_vpdq::Options {
            fps: args.vpdq_fps.0,
            video: spoor_vpdq::VideoOptions {
                ffmpeg: args.ffmpeg.clone(),
                max_pixels: args.max_pixels,
                timeout: std::time::Duration::from_secs(args.video_timeout),
                ..Default::default()
            },
        },
    };
    if args.dihedral.is_some() && !cfg.pdq {
        anyhow::bail!("--dihedral needs the pdq signal: add pdq to --signals");
    }
    if args.paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        anyhow::bail!("standard input (-) can be named only once");
    }
    let threads = crate::threads(args.threads);

    let (in_tx, in_rx) = crossbeam_channel::bounded::<(usize, Input)>(threads * 16);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<(usize, Record)>(threads * 16);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut n_failed = 0usize;
    let mut write_error: Option<std::io::Error> = None;

    std::thread::scope(|s| {
        let paths = &args.paths;
        s.spawn(move || {
            let mut seq = 0;
            walk(paths, |input| {
                let ok = in_tx.send((seq, input)).is_ok();
                seq += 1;
                ok
            });
        });
        for _ in 0..threads {
            let (rx, tx, cfg) = (in_rx.clone(), out_tx.clone(), &cfg);
            s.spawn(move || {
                for (seq, input) in rx {
                    if tx.send((seq, hash_one(&input, cfg))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(in_rx);
        drop(out_tx);

        // Print in input order: hold back records that finish early.
        let mut pending = BTreeMap::new();
        let mut next = 0usize;
        for (seq, rec) in out_rx.iter() {
            pending.insert(seq, rec);
            while let Some(rec) = pending.remove(&next) {
                next += 1;
                if rec.error.is_some() {
                    n_failed += 1;
                }
                if write_error.is_some() {
                    continue;
                }
                let r = match format {
                    OutputFormat::Jsonl => serde_json::to_writer(&mut out, &rec)
                        .map_err(std::io::Error::from)
                        .and_then(|_| out.write_all(b"\n")),
                    OutputFormat::Text => match &rec.error {
                        Some(e) => {
                            eprintln!("spoor: {}: {e}", rec.path);
                            Ok(())
                        }
                        None => write_text(&mut out, &rec),
                    },
                };
                if let Err(e) = r {
                    write_error = Some(e);
                    // Stop feeding the workers; they finish what they hold.
                    break;
                }
            }
            if write_error.is_some() {
                break;
            }
        }
        // Dropping the receiver makes the workers and the walker stop.
        drop(out_rx);
    });

    if let Some(e) = write_error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e).context("cannot write output");
    }
    out.flush().context("cannot write output")?;
    Ok(if n_failed > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert!(parse_size("ten").unwrap_err().contains("expected a number"));
        assert!(parse_size("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
