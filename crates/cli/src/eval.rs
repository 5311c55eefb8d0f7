//! `spoor eval`: measures the recall and the false matches the hashing achieves on benign
//! pictures and videos (see `spoor-eval`): each original is changed in standard ways, hashed
//! again and compared with itself; all pairs of distinct originals are compared with each
//! other. Pictures are measured with PDQ (plain, dihedral, exact dihedral), videos with vPDQ,
//! both with MD5 and SHA-256.
//!
//! `spoor eval PATH… [--generated N] [--generated-videos N] [--seed N] [--changes LIST]
//! [--video-changes LIST] [--radius 16,31] [--min-quality 50] [--jsonl FILE] [--write DIR]
//! [-j N]` prints a table; `--jsonl` writes every record (the run, each original, each copy,
//! each recall and false-match figure); `--write` keeps the originals and their copies as
//! files with a manifest, for checking against another implementation (`bench/eval.sh`).

use crate::walk::{walk, Input};
use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use spoor_eval::video::{VideoChange, VideoOriginal, VideoSettings};
use spoor_eval::{Change, EvalError, Original, Settings, Summary, Technology};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Arguments of `spoor eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Benign pictures and videos: files or directories (read recursively, in name order).
    /// Files that are neither are counted and left out.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also make this many pictures from the seed (noise, shapes, waves, landscapes,
    /// mosaics): they join the false-match comparison (they are not changed, so recall is
    /// measured on the given pictures alone).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub generated: u32,
    /// The seed of everything random (captions, generated pictures).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The changes, comma-separated, or `standard` (resize_0.5, resize_0.25, jpeg_q30,
    /// jpeg_q50, jpeg_q70, crop_5, crop_10, crop_20, rotate_90, rotate_180, mirror,
    /// border_5_white, border_10_black, border_15_red, letterbox_12, pillarbox_12, text,
    /// brightness_+30, contrast_+30, greyscale).
    #[arg(long, value_delimiter = ',', default_value = "standard")]
    pub changes: Vec<String>,
    /// Also make this many short videos from the seed (two scenes panning over generated
    /// pictures, six seconds, 320×240): they join the comparison of distinct videos.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub generated_videos: u32,
    /// The changes to videos, comma-separated, or `standard` (h264_crf28, h264_crf40,
    /// resize_0.5, resize_0.25, fps_10, cut_middle, inserted, crop_10, rotate_90, mirror,
    /// border_10_black, text, brightness_+30, greyscale). A picture change (other than JPEG)
    /// applies to every frame.
    #[arg(long, value_delimiter = ',', default_value = "standard")]
    pub video_changes: Vec<String>,
    /// A video matches when this percentage of its good frames are near frames of the other
    /// (the service's rule).
    #[arg(long, default_value_t = 80.0, value_name = "PERCENT", value_parser = parse_percent)]
    pub video_match: f64,
    /// Video frames hashed a second for vPDQ (a number, or `all` for every frame).
    #[arg(long, value_name = "N|all", default_value = "1", value_parser = crate::hash::parse_fps)]
    pub vpdq_fps: crate::hash::VpdqFps,
    /// The ffmpeg program that decodes videos and encodes their copies (ffprobe is looked
    /// for beside it).
    #[arg(long, env = "SPOOR_FFMPEG", value_name = "PATH", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    /// PDQ radii to count matches at (for videos, the distance between two frames),
    /// comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "31",
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub radius: Vec<u32>,
    /// Originals with a lower PDQ quality are skipped (PDQ's own threshold is 50).
    #[arg(long, default_value_t = spoor_eval::DEFAULT_MIN_QUALITY,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_quality: u8,
    /// Write every record, one JSON object a line, to this file (`-` for standard output,
    /// which then carries no table).
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Keep the originals and their changed copies in this directory (which must be empty or
    /// new): `NNNNN/original.EXT`, `NNNNN/CHANGE.EXT` and `manifest.tsv`; videos'
    /// copies as `videos/NNNNN/CHANGE.mp4` (originals are named in the manifest, not copied).
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// One line of `--jsonl`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record<'a> {
    Run {
        version: &'static str,
        seed: u64,
        changes: Vec<String>,
        radii: &'a [u32],
        min_quality: u8,
        originals: u64,
        compared: u64,
        skipped_low_quality: u64,
        not_pictures: u64,
        errors: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        videos: Option<VideoRun<'a>>,
    },
    Original(&'a Original),
    Copy {
        original: &'a str,
        #[serde(flatten)]
        copy: &'a spoor_eval::Copy,
    },
    Video(&'a VideoOriginal),
    VideoCopy {
        original: &'a str,
        #[serde(flatten)]
        copy: &'a spoor_eval::video::VideoCopy,
    },
    Recall(&'a spoor_eval::Recall),
    FalseMatches(&'a spoor_eval::FalseMatches),
    Error {
        original: &'a str,
        error: String,
    },
}

/// The videos' part of the run record.
#[derive(Serialize)]
struct VideoRun<'a> {
    changes: Vec<String>,
    radii: &'a [u32],
    query_match: f64,
    fps: Option<f64>,
    crf: u8,
    ffmpeg: String,
    originals: u64,
    compared: u64,
    skipped_no_good_frame: u64,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a percentage from 0 to 100")),
    }
}

enum Source {
    File(PathBuf),
    Generated(u32),
    GeneratedVideo(u32),
}

enum Outcome {
    Done(Box<Original>, Vec<u8>),
    Video(Box<VideoOriginal>),
    NotPicture,
    Error(String, String),
}

fn parse_video_changes(names: &[String]) -> anyhow::Result<Vec<VideoChange>> {
    parse_list(names, spoor_eval::video::standard, "--video-changes", "h264_crf40,crop_10")
}

/// The first bytes of a file, to tell a video from a picture without reading it all.
fn head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = Vec::with_capacity(512);
    std::fs::File::open(path)?.take(512).read_to_end(&mut buf)?;
    Ok(buf)
}

fn one_video(i: usize, source: &Source, settings: &VideoSettings) -> Outcome {
    let result = match source {
        Source::File(p) => {
            let name = p.display().to_string();
            spoor_eval::video::evaluate_video(p, &name, &format!("{i:05}"), settings)
                .map_err(|e| (name, e.to_string()))
        }
        Source::GeneratedVideo(k) => {
            let path = settings.scratch.join(format!("generated-{k:05}.mp4"));
            let made = spoor_eval::video::generate_video(settings.seed, *k, &path, settings)
                .map_err(|e| (format!("generated video {k}"), format!("cannot make it: {e}")));
            let r = made.and_then(|name| {
                spoor_eval::video::evaluate_video_unchanged(&path, &name, settings)
                    .map_err(|e| (name, e.to_string()))
            });
            if !settings.keep_copies {
                let _ = std::fs::remove_file(&path);
            }
            r
        }
        Source::Generated(_) => unreachable!("pictures are not videos"),
    };
    match result {
        Ok(o) => Outcome::Video(Box::new(o)),
        Err((name, e)) => Outcome::Error(name, e),
    }
}

fn parse_changes(names: &[String]) -> anyhow::Result<Vec<Change>> {
    parse_list(names, spoor_eval::changes::standard, "--changes", "jpeg_q30,crop_10")
}

/// A list of changes by name (`standard` for the standard set), each once, in order given.
fn parse_list<T>(
    names: &[String],
    standard: fn() -> Vec<T>,
    flag: &str,
    example: &str,
) -> anyhow::Result<Vec<T>>
where
    T: std::str::FromStr + std::fmt::Display,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let mut out = Vec::new();
    for n in names {
        if n == "standard" {
            out.extend(standard());
        } else {
            out.push(n.parse::<T>()?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.to_string()));
    if out.is_empty() {
        anyhow::bail!("{flag} names no change: give `standard` or a list such as {example}");
    }
    Ok(out)
}

fn one(i: usize, source: &Source, settings: &Settings, video: &VideoSettings) -> Outcome {
    if let Source::File(p) = source {
        match head(p) {
            Ok(h) if spoor_media::video::is_video(&h) => return one_video(i, source, video),
            Ok(_) => {}
            Err(e) => return Outcome::Error(p.display().to_string(), format!("cannot read: {e}")),
        }
    }
    if let Source::GeneratedVideo(_) = source {
        return one_video(i, source, video);
    }
    let (name, bytes) = match source {
        Source::File(p) => match std::fs::read(p) {
            Ok(b) => (p.display().to_string(), b),
            Err(e) => return Outcome::Error(p.display().to_string(), format!("cannot read: {e}")),
        },
        Source::Generated(i) => {
            let (name, img) = spoor_eval::generate::picture(settings.seed, *i);
            match spoor_eval::png(&img) {
                Ok(b) => (name, b),
                Err(e) => return Outcome::Error(name, format!("cannot encode: {e}")),
            }
        }
        Source::GeneratedVideo(_) => unreachable!("handled above"),
    };
    if matches!(source, Source::File(_))
        && spoor_media::sniff(&bytes).is_none()
        && !bytes.is_empty()
    {
        return Outcome::NotPicture;
    }
    let result = match source {
        Source::File(_) => spoor_eval::evaluate(&name, &bytes, settings),
        _ => spoor_eval::evaluate_unchanged(&name, &bytes, settings),
    };
    match result {
        Ok(o) => Outcome::Done(Box::new(o), bytes),
        Err(EvalError::Decode(e)) => Outcome::Error(name, format!("not evaluated: {e}")),
        Err(e) => Outcome::Error(name, e.to_string()),
    }
}

/// Runs `spoor eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let changes = parse_changes(&args.changes)?;
    let video_changes = parse_video_changes(&args.video_changes)?;
    if args.paths.is_empty() && args.generated == 0 && args.generated_videos == 0 {
        anyhow::bail!(
            "nothing to evaluate: give pictures or videos (files or directories), or --generated N"
        );
    }
    if let Some(dir) = &args.write {
        if dir.exists()
            && std::fs::read_dir(dir)
                .with_context(|| format!("--write {}", dir.display()))?
                .next()
                .is_some()
        {
            anyhow::bail!(
                "--write {}: the directory is not empty; give a new or empty directory",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let settings = Settings {
        changes,
        radii: args.radius.clone(),
        seed: args.seed,
        min_quality: args.min_quality,
        decode: spoor_media::Options::default(),
        keep_copies: args.write.is_some(),
    };
    // Video copies are files: kept under --write, or in a private directory removed at the end.
    let scratch_dir = match &args.write {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("spoor-eval-")
                .tempdir()
                .context("cannot make a scratch directory for video copies")?,
        ),
    };
    let scratch = match (&args.write, &scratch_dir) {
        (Some(dir), _) => dir.join("videos"),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => unreachable!("one of the two is set"),
    };
    let video_settings = VideoSettings {
        changes: video_changes,
        radii: args.radius.clone(),
        query_match: args.video_match,
        seed: args.seed,
        min_quality: args.min_quality,
        hashing: spoor_vpdq::Options {
            fps: args.vpdq_fps.0,
            video: spoor_vpdq::VideoOptions { ffmpeg: args.ffmpeg.clone(), ..Default::default() },
        },
        crf: spoor_eval::video::DEFAULT_CRF,
        scratch,
        keep_copies: args.write.is_some(),
    };
    let mut sources = Vec::new();
    let mut walk_errors = Vec::new();
    walk(&args.paths, |input| {
        match input {
            Input::File(p) => sources.push(Source::File(p)),
            Input::Error(p, e) => walk_errors.push((p.display().to_string(), e)),
            Input::Stdin => walk_errors.push((
                "-".into(),
                "standard input is not read by spoor eval: give files or directories".into(),
            )),
        }
        true
    });
    sources.extend((0..args.generated).map(Source::Generated));
    sources.extend((0..args.generated_videos).map(Source::GeneratedVideo));
    if args.generated_videos > 0 {
        std::fs::create_dir_all(&video_settings.scratch)
            .with_context(|| format!("cannot create {}", video_settings.scratch.display()))?;
    }

    let results: Vec<Mutex<Option<Outcome>>> = sources.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = crate::threads(args.threads).min(sources.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(source) = sources.get(i) else { break };
                let outcome = one(i, source, &settings, &video_settings);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            });
        }
    });

    let mut originals = Vec::new();
    let mut videos = Vec::new();
    let mut errors: Vec<(String, String)> = walk_errors;
    let mut not_pictures = 0u64;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for r in results {
        match r.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Outcome::Done(o, bytes)) => {
                originals.push(*o);
                if args.write.is_some() {
                    kept.push(bytes);
                }
            }
            Some(Outcome::Video(v)) => videos.push(*v),
            Some(Outcome::NotPicture) => not_pictures += 1,
            Some(Outcome::Error(name, e)) => errors.push((name, e)),
            None => {}
        }
    }
    let summary = spoor_eval::summarise(&originals, &settings);
    let video_summary =
        (!videos.is_empty()).then(|| spoor_eval::video::summarise_videos(&videos, &video_settings));
    let videos_measured =
        video_summary.as_ref().is_some_and(|v| v.originals > 0 || v.compared >= 2);
    if summary.compared < 2 && !videos_measured {
        for (name, e) in &errors {
            eprintln!("spoor eval: {name}: {e}");
        }
        anyhow::bail!(
            "{} original(s) of PDQ quality ≥ {} were found; at least 2 are needed (give more \
             pictures, or --generated N), or videos",
            summary.compared,
            settings.min_quality
        );
    }
    if let Some(dir) = &args.write {
        write_copies(dir, &originals, &kept, &videos)?;
    }
    let ffmpeg = if videos.is_empty() {
        String::new()
    } else {
        spoor_media::video::ffmpeg_version(&video_settings.hashing.video)
            .unwrap_or_else(|e| format!("unknown ({e})"))
    };
    let report = Report {
        settings: &settings,
        originals: &originals,
        summary: &summary,
        video_settings: &video_settings,
        videos: &videos,
        video_summary: video_summary.as_ref(),
        ffmpeg: &ffmpeg,
        not_pictures,
        errors: &errors,
    };
    let to_stdout = args.jsonl.as_deref() == Some(Path::new("-"));
    if let Some(path) = &args.jsonl {
        let sink: Box<dyn Write> = if to_stdout {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            )
        };
        let mut w = std::io::BufWriter::new(sink);
        write_records(&mut w, &report)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.flush().with_context(|| format!("cannot write {}", path.display()))?;
    }
    for (name, e) in &errors {
        eprintln!("spoor eval: {name}: {e}");
    }
    if !to_stdout {
        let mut out = std::io::stdout().lock();
        if summary.compared > 0 || video_summary.is_none() {
            print_table(&mut out, &settings, &summary, not_pictures, errors.len())?;
        }
        if let Some(v) = &video_summary {
            if summary.compared > 0 {
                writeln!(out)?;
            }
            print_video_table(&mut out, &video_settings, v, &ffmpeg)?;
        }
    }
    drop(scratch_dir);
    Ok(ExitCode::SUCCESS)
}

/// Everything a run found, for the records.
struct Report<'a> {
    settings: &'a Settings,
    originals: &'a [Original],
    summary: &'a Summary,
    video_settings: &'a VideoSettings,
    videos: &'a [VideoOriginal],
    video_summary: Option<&'a Summary>,
    ffmpeg: &'a str,
    not_pictures: u64,
    errors: &'a [(String, String)],
}

fn write_records(w: &mut dyn Write, r: &Report) -> anyhow::Result<()> {
    let mut line = |x: &Record| -> anyhow::Result<()> {
        serde_json::to_writer(&mut *w, x)?;
        w.write_all(b"\n")?;
        Ok(())
    };
    let (settings, summary) = (r.settings, r.summary);
    line(&Record::Run {
        version: env!("CARGO_PKG_VERSION"),
        seed: settings.seed,
        changes: settings.changes.iter().map(|c| c.to_string()).collect(),
        radii: &settings.radii,
        min_quality: settings.min_quality,
        originals: summary.originals,
        compared: summary.compared,
        skipped_low_quality: summary.skipped,
        not_pictures: r.not_pictures,
        errors: r.errors.len() as u64,
        videos: r.video_summary.map(|v| VideoRun {
            changes: r.video_settings.changes.iter().map(|c| c.to_string()).collect(),
            radii: &r.video_settings.radii,
            query_match: r.video_settings.query_match,
            fps: r.video_settings.hashing.fps,
            crf: r.video_settings.crf,
            ffmpeg: r.ffmpeg.to_string(),
            originals: v.originals,
            compared: v.compared,
            skipped_no_good_frame: v.skipped,
        }),
    })?;
    for o in r.originals {
        line(&Record::Original(o))?;
        for c in &o.copies {
            line(&Record::Copy { original: &o.name, copy: c })?;
        }
    }
    for v in r.videos {
        line(&Record::Video(v))?;
        for c in &v.copies {
            line(&Record::VideoCopy { original: &v.name, copy: c })?;
        }
    }
    for (name, e) in r.errors {
        line(&Record::Error { original: name, error: e.clone() })?;
    }
    let videos = r.video_summary.into_iter();
    for x in summary.recall.iter().chain(videos.clone().flat_map(|v| &v.recall)) {
        line(&Record::Recall(x))?;
    }
    for f in summary.false_matches.iter().chain(videos.flat_map(|v| &v.false_matches)) {
        line(&Record::FalseMatches(f))?;
    }
    Ok(())
}

fn write_copies(
    dir: &Path,
    originals: &[Original],
    bytes: &[Vec<u8>],
    videos: &[VideoOriginal],
) -> anyhow::Result<()> {
    let mut manifest = String::from("dir\toriginal\tused\n");
    for (i, (o, b)) in originals.iter().zip(bytes).enumerate() {
        let sub = dir.join(format!("{i:05}"));
        std::fs::create_dir_all(&sub)
            .with_context(|| format!("cannot create {}", sub.display()))?;
        let ext = spoor_media::sniff(b).map_or("bin", |f| match f {
            spoor_media::Format::Jpeg => "jpg",
            other => other.name(),
        });
        let path = sub.join(format!("original.{ext}"));
        std::fs::write(&path, b).with_context(|| format!("cannot write {}", path.display()))?;
        for c in &o.copies {
            if let Some(e) = &c.encoded {
                let path = sub.join(format!("{}.{}", c.change, c.extension()));
                std::fs::write(&path, e)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        manifest.push_str(&format!("{i:05}\t{}\t{}\n", o.name.replace(['\t', '\n'], " "), o.used));
    }
    // Video copies are already in `videos/`, each in the directory its input index names.
    for v in videos.iter().filter(|v| v.changed) {
        if let Some(dir) = v.copies.first().and_then(|c| c.kept.as_ref()).and_then(|k| k.parent()) {
            let sub = dir.strip_prefix(dir.parent().unwrap_or(dir)).unwrap_or(dir);
            manifest.push_str(&format!(
                "videos/{}\t{}\t{}\n",
                sub.display(),
                v.name.replace(['\t', '\n'], " "),
                v.used
            ));
        }
    }
    let path = dir.join("manifest.tsv");
    std::fs::write(&path, manifest).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn percent(p: &spoor_eval::Proportion) -> String {
    format!("{:.1}%", p.rate * 100.0)
}

fn print_table(
    out: &mut dyn Write,
    settings: &Settings,
    summary: &Summary,
    not_pictures: u64,
    errors: usize,
) -> anyhow::Result<()> {
    let mut radii = settings.radii.clone();
    radii.sort_unstable();
    radii.dedup();
    writeln!(
        out,
        "{} pictures changed {} ways each and {} originals compared pairwise (PDQ quality ≥ {}), \
         seed {}; {} skipped for quality, {} files neither pictures nor videos, {} errors",
        summary.originals,
        settings.changes.len(),
        summary.compared,
        settings.min_quality,
        settings.seed,
        summary.skipped,
        not_pictures,
        errors
    )?;
    writeln!(out, "\nrecall (copies that still match their original):")?;
    let mut header = format!("{:<16}", "change");
    for r in &radii {
        header.push_str(&format!(
            " {:>9} {:>13} {:>10} {:>12}",
            format!("pdq≤{r}"),
            format!("dihedral≤{r}"),
            format!("exact≤{r}"),
            format!("unframed≤{r}")
        ));
    }
    header.push_str(&format!(" {:>7}", "md5"));
    writeln!(out, "{header}")?;
    for change in &settings.changes {
        let name = change.to_string();
        let mut row = format!("{name:<16}");
        let find = |t: Technology, r: Option<u32>| {
            summary
                .recall
                .iter()
                .find(|x| x.change == name && x.technology == t && x.radius == r)
                .map(|x| percent(&x.recall))
                .unwrap_or_default()
        };
        for &r in &radii {
            row.push_str(&format!(
                " {:>9} {:>13} {:>10} {:>12}",
                find(Technology::Pdq, Some(r)),
                find(Technology::PdqDihedral, Some(r)),
                find(Technology::PdqDihedralExact, Some(r)),
                find(Technology::PdqUnframed, Some(r))
            ));
        }
        row.push_str(&format!(" {:>7}", find(Technology::Md5, None)));
        writeln!(out, "{row}")?;
    }
    writeln!(out, "\nfalse matches (pairs of distinct originals that match each other):")?;
    for f in &summary.false_matches {
        let what = match f.radius {
            Some(r) => format!("{} ≤ {r}", f.technology.name()),
            None => f.technology.name().to_string(),
        };
        writeln!(
            out,
            "{what:<24} {} of {} pairs ({:.4}%, 95% CI {:.4}–{:.4}%)",
            f.rate.count,
            f.rate.of,
            f.rate.rate * 100.0,
            f.rate.low * 100.0,
            f.rate.high * 100.0
        )?;
        for p in f.pairs.iter().take(3) {
            writeln!(out, "    {} ~ {} (distance {})", p.a, p.b, p.distance)?;
        }
    }
    Ok(())
}

fn print_video_table(
    out: &mut dyn Write,
    settings: &VideoSettings,
    summary: &Summary,
    ffmpeg: &str,
) -> anyhow::Result<()> {
    let mut radii = settings.radii.clone();
    radii.sort_unstable();
    radii.dedup();
    let rate = match settings.hashing.fps {
        Some(f) => format!("{f} frame(s) a second"),
        None => "every frame".into(),
    };
    writeln!(
        out,
        "{} videos changed {} ways each and {} videos compared pairwise (vPDQ, {rate}, frames of \
         PDQ quality ≥ {}; a copy matches when {}% of its good frames are near its original's); \
         {} skipped with no good frame; ffmpeg {ffmpeg}, copies H.264 at CRF {} unless changed",
        summary.originals,
        settings.changes.len(),
        summary.compared,
        settings.min_quality,
        settings.query_match,
        summary.skipped,
        settings.crf
    )?;
    writeln!(out, "\nrecall (video copies that still match their original):")?;
    let mut header = format!("{:<16}", "change");
    for r in &radii {
        header.push_str(&format!(" {:>9}", format!("vpdq≤{r}")));
    }
    header.push_str(&format!(" {:>7}", "md5"));
    writeln!(out, "{header}")?;
    for change in &settings.changes {
        let name = change.to_string();
        let find = |t: Technology, r: Option<u32>| {
            summary
                .recall
                .iter()
                .find(|x| x.change == name && x.technology == t && x.radius == r)
                .map(|x| percent(&x.recall))
                .unwrap_or_default()
        };
        let mut row = format!("{name:<16}");
        for &r in &radii {
            row.push_str(&format!(" {:>9}", find(Technology::Vpdq, Some(r))));
        }
        row.push_str(&format!(" {:>7}", find(Technology::Md5, None)));
        writeln!(out, "{row}")?;
    }
    writeln!(out, "\nfalse matches (distinct videos, and their frames, that match each other):")?;
    for f in &summary.false_matches {
        let what = match f.radius {
            Some(r) => format!("{} ≤ {r}", f.technology.name()),
            None => f.technology.name().to_string(),
        };
        let unit = if f.technology == Technology::VpdqFrame { "frame pairs" } else { "pairs" };
        writeln!(
            out,
            "{what:<20} {} of {} {unit} ({:.4}%, 95% CI {:.4}–{:.4}%)",
            f.rate.count,
            f.rate.of,
            f.rate.rate * 100.0,
            f.rate.low * 100.0,
            f.rate.high * 100.0
        )?;
        for p in f.pairs.iter().take(3) {
            writeln!(out, "    {} ~ {} (nearest frames {} apart)", p.a, p.b, p.distance)?;
        }
    }
    Ok(())
}
