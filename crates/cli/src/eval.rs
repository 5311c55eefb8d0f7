//! `spoor eval`: measures the recall and the false matches the hashing achieves on benign
//! pictures (see `spoor-eval`): each original is changed in standard ways, hashed again and
//! compared with itself; all pairs of distinct originals are compared with each other.
//!
//! `spoor eval PATH… [--generated N] [--seed N] [--changes LIST] [--radius 16,31]
//! [--min-quality 50] [--jsonl FILE] [--write DIR] [-j N]` prints a table; `--jsonl` writes
//! every record (the run, each original, each copy, each recall and false-match figure);
//! `--write` keeps the originals and their copies as files with a manifest, for checking
//! against another implementation (`bench/eval.sh`).

use crate::walk::{walk, Input};
use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use spoor_eval::{Change, EvalError, Original, Settings, Summary, Technology};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Arguments of `spoor eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Benign pictures: files or directories (read recursively, in name order). Files that
    /// are not pictures are counted and left out.
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
    /// border_5_white, text, brightness_+30, contrast_+30, greyscale).
    #[arg(long, value_delimiter = ',', default_value = "standard")]
    pub changes: Vec<String>,
    /// PDQ radii to count matches at, comma-separated.
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
    /// new): `NNNNN/original.EXT`, `NNNNN/CHANGE.EXT` and `manifest.tsv`.
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
    },
    Original(&'a Original),
    Copy {
        original: &'a str,
        #[serde(flatten)]
        copy: &'a spoor_eval::Copy,
    },
    Recall(&'a spoor_eval::Recall),
    FalseMatches(&'a spoor_eval::FalseMatches),
    Error {
        original: &'a str,
        error: String,
    },
}

enum Source {
    File(PathBuf),
    Generated(u32),
}

enum Outcome {
    Done(Box<Original>, Vec<u8>),
    NotPicture,
    Error(String, String),
}

fn parse_changes(names: &[String]) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for n in names {
        if n == "standard" {
            out.extend(spoor_eval::changes::standard());
        } else {
            out.push(n.parse::<Change>()?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.to_string()));
    if out.is_empty() {
        anyhow::bail!(
            "--changes names no change: give `standard` or a list such as jpeg_q30,crop_10"
        );
    }
    Ok(out)
}

fn one(source: &Source, settings: &Settings) -> Outcome {
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
    };
    if matches!(source, Source::File(_))
        && spoor_media::sniff(&bytes).is_none()
        && !bytes.is_empty()
    {
        return Outcome::NotPicture;
    }
    let result = match source {
        Source::File(_) => spoor_eval::evaluate(&name, &bytes, settings),
        Source::Generated(_) => spoor_eval::evaluate_unchanged(&name, &bytes, settings),
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
    if args.paths.is_empty() && args.generated == 0 {
        anyhow::bail!("nothing to evaluate: give pictures (files or directories) or --generated N");
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

    let results: Vec<Mutex<Option<Outcome>>> = sources.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = crate::threads(args.threads).min(sources.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(source) = sources.get(i) else { break };
                let outcome = one(source, &settings);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            });
        }
    });

    let mut originals = Vec::new();
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
            Some(Outcome::NotPicture) => not_pictures += 1,
            Some(Outcome::Error(name, e)) => errors.push((name, e)),
            None => {}
        }
    }
    let summary = spoor_eval::summarise(&originals, &settings);
    if summary.compared < 2 {
        for (name, e) in &errors {
            eprintln!("spoor eval: {name}: {e}");
        }
        anyhow::bail!(
            "{} original(s) of PDQ quality ≥ {} were found; at least 2 are needed (give more \
             pictures, or --generated N)",
            summary.compared,
            settings.min_quality
        );
    }
    if let Some(dir) = &args.write {
        write_copies(dir, &originals, &kept)?;
    }
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
        write_records(&mut w, &settings, &originals, &summary, not_pictures, &errors)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.flush().with_context(|| format!("cannot write {}", path.display()))?;
    }
    for (name, e) in &errors {
        eprintln!("spoor eval: {name}: {e}");
    }
    if !to_stdout {
        let mut out = std::io::stdout().lock();
        print_table(&mut out, &settings, &summary, not_pictures, errors.len())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_records(
    w: &mut dyn Write,
    settings: &Settings,
    originals: &[Original],
    summary: &Summary,
    not_pictures: u64,
    errors: &[(String, String)],
) -> anyhow::Result<()> {
    let mut line = |r: &Record| -> anyhow::Result<()> {
        serde_json::to_writer(&mut *w, r)?;
        w.write_all(b"\n")?;
        Ok(())
    };
    line(&Record::Run {
        version: env!("CARGO_PKG_VERSION"),
        seed: settings.seed,
        changes: settings.changes.iter().map(|c| c.to_string()).collect(),
        radii: &settings.radii,
        min_quality: settings.min_quality,
        originals: summary.originals,
        compared: summary.compared,
        skipped_low_quality: summary.skipped,
        not_pictures,
        errors: errors.len() as u64,
    })?;
    for o in originals {
        line(&Record::Original(o))?;
        for c in &o.copies {
            line(&Record::Copy { original: &o.name, copy: c })?;
        }
    }
    for (name, e) in errors {
        line(&Record::Error { original: name, error: e.clone() })?;
    }
    for r in &summary.recall {
        line(&Record::Recall(r))?;
    }
    for f in &summary.false_matches {
        line(&Record::FalseMatches(f))?;
    }
    Ok(())
}

fn write_copies(dir: &Path, originals: &[Original], bytes: &[Vec<u8>]) -> anyhow::Result<()> {
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
         seed {}; {} skipped for quality, {} files not pictures, {} errors",
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
            " {:>9} {:>13} {:>10}",
            format!("pdq≤{r}"),
            format!("dihedral≤{r}"),
            format!("exact≤{r}")
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
                " {:>9} {:>13} {:>10}",
                find(Technology::Pdq, Some(r)),
                find(Technology::PdqDihedral, Some(r)),
                find(Technology::PdqDihedralExact, Some(r))
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
            "{what:<20} {} of {} pairs ({:.4}%, 95% CI {:.4}–{:.4}%)",
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
