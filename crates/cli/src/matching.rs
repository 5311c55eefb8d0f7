//! `spoor match`: match a list of PDQ hashes against another, exactly, within a radius.

use anyhow::{bail, Context as _};
use clap::Args;
use spoor_core::{vpdq, Hash256};
use spoor_index::{Hit, PdqIndex};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Arguments of `spoor match`.
#[derive(Args, Debug)]
pub struct MatchArgs {
    /// The list to match against: one 64-hex-digit PDQ hash a line.
    #[arg(long, value_name = "LIST")]
    pub against: PathBuf,
    /// Queries: one 64-hex-digit PDQ hash a line, from a file or `-` for standard input.
    #[arg(value_name = "QUERIES", default_value = "-")]
    pub queries: PathBuf,
    /// Largest Hamming distance that counts as a match (0–256).
    #[arg(long, default_value_t = 31, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub radius: u32,
    /// Worker threads [default: all cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Report malformed lines on standard error and skip them, instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print load and query timings on standard error at the end.
    #[arg(long)]
    pub stats: bool,
    /// vPDQ lines: percent of the query video's frames that must match (0-100).
    #[arg(long, default_value_t = 80.0)]
    pub vpdq_query_match: f64,
    /// vPDQ lines: percent of the listed video's frames that must match (0-100).
    #[arg(long, default_value_t = 0.0)]
    pub vpdq_compared_match: f64,
    /// vPDQ lines: frames below this PDQ quality are ignored.
    #[arg(long, default_value_t = 50)]
    pub vpdq_quality: u8,
}

/// A malformed line: which file, which line, what is wrong.
fn bad_line(path: &Path, line: usize, e: impl std::fmt::Display) -> String {
    format!("{}:{line}: {e}", path.display())
}

/// Parses one line; blank and `#` comment lines are not hashes.
/// One line of a list or of the queries: a PDQ hash, or a video's vPDQ (a JSON array of
/// `PDQ,QUALITY,SECONDS` strings, the bank text form).
#[derive(Debug)]
enum Line {
    Pdq(Hash256),
    Video(Vec<vpdq::VpdqFrame>),
}

fn parse_line(text: &str) -> Option<Result<Line, String>> {
    let t = text.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    if t.starts_with('[') {
        return Some(vpdq::parse(t).map(Line::Video).map_err(|e| e.to_string()));
    }
    Some(t.parse::<Hash256>().map(Line::Pdq).map_err(|e| e.to_string()))
}

/// Reads `(hash, 1-based line)` pairs from a reader, failing or skipping malformed lines.
fn read_hashes(
    reader: impl BufRead,
    path: &Path,
    skip_invalid: bool,
    mut each: impl FnMut(Line, usize) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let mut skipped = 0;
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let n = i + 1;
        let parsed = match std::str::from_utf8(&line) {
            Ok(text) => parse_line(text),
            Err(_) => Some(Err("not UTF-8 text: expected 64 hex digits".to_string())),
        };
        match parsed {
            None => {}
            Some(Ok(h)) => each(h, n)?,
            Some(Err(e)) => {
                let msg = bad_line(path, n, e);
                if !skip_invalid {
                    bail!("{msg} (use --skip-invalid to skip such lines)");
                }
                eprintln!("spoor: skipped {msg}");
                skipped += 1;
            }
        }
    }
    Ok(skipped)
}

fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

fn write_record(out: &mut Vec<u8>, line: usize, hits: &[Hit]) {
    use std::io::Write as _;
    let _ = write!(out, "{{\"query\":{line},\"matches\":[");
    for (k, h) in hits.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{{\"line\":{},\"distance\":{}}}", h.id, h.distance);
    }
    out.extend_from_slice(b"]}\n");
}

/// Runs `spoor match`.
pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    let threads = crate::threads(args.threads);
    if args.against.as_os_str() == "-" {
        bail!("--against must name a file: standard input is for the queries");
    }

    let started = std::time::Instant::now();
    let mut list = Vec::new();
    let mut frames = Vec::new();
    let mut video_sizes: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut skipped =
        read_hashes(open(&args.against)?, &args.against, args.skip_invalid, |l, n| {
            match l {
                Line::Pdq(h) => list.push((h, n as u64)),
                Line::Video(v) => {
                    let mut f = vpdq::distinct_frames(&v, args.vpdq_quality);
                    f.truncate(1 << vpdq::FRAME_BITS);
                    for (i, h) in f.iter().enumerate() {
                        frames.push((*h, vpdq::frame_id(n as u64, i)));
                    }
                    video_sizes.insert(n, f.len());
                }
            }
            Ok(())
        })?;
    let n_list = list.len() + video_sizes.len();
    let index = PdqIndex::build_parallel(list, threads);
    let video_index = PdqIndex::build_parallel(frames, threads);
    let video_query = |frames: &[vpdq::VpdqFrame], line: usize, out: &mut Vec<u8>| {
        use std::io::Write as _;
        let q = vpdq::distinct_frames(frames, args.vpdq_quality);
        let mut hits = Vec::new();
        let found = vpdq::frame_hits(&q, |h, ids| {
            hits.clear();
            video_index.search_into(h, args.radius, &mut hits);
            ids.extend(hits.iter().map(|hit| hit.id));
        });
        let mut matches: Vec<(f64, f64, usize)> = found
            .into_iter()
            .map(|(l, (query_found, listed_found))| {
                let l = l as usize;
                let qm = query_found as f64 * 100.0 / q.len() as f64;
                let cm = listed_found as f64 * 100.0 / video_sizes[&l].max(1) as f64;
                (qm, cm, l)
            })
            .filter(|(qm, cm, _)| *qm >= args.vpdq_query_match && *cm >= args.vpdq_compared_match)
            .collect();
        matches.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
        let _ = write!(out, "{{\"query\":{line},\"matches\":[");
        for (k, (qm, cm, l)) in matches.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            let _ =
                write!(out, "{{\"line\":{l},\"query_match\":{qm:.1},\"compared_match\":{cm:.1}}}");
        }
        out.extend_from_slice(b"]}\n");
    };
    let loaded = started.elapsed().as_secs_f64();
    let mut n_queries = 0usize;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    // Queries are read and answered in batches, so that any number of them streams through
    // in bounded memory; within a batch, threads take blocks of queries in turn.
    const BATCH: usize = 1 << 16;
    const BLOCK: usize = 256;
    let mut batch: Vec<(Hash256, usize)> = Vec::with_capacity(BATCH);
    let radius = args.radius;
    let flush = |batch: &mut Vec<(Hash256, usize)>, out: &mut dyn Write| -> anyhow::Result<()> {
        let blocks: Vec<&[(Hash256, usize)]> = batch.chunks(BLOCK).collect();
        let mut results: Vec<Vec<u8>> = vec![Vec::new(); blocks.len()];
        let next = AtomicUsize::new(0);
        let answered: Vec<Vec<(usize, Vec<u8>)>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads.min(blocks.len()))
                .map(|_| {
                    s.spawn(|| {
                        let (mut hits, mut done) = (Vec::new(), Vec::new());
                        loop {
                            let b = next.fetch_add(1, Ordering::Relaxed);
                            let Some(block) = blocks.get(b) else { break };
                            let mut buf = Vec::with_capacity(block.len() * 32);
                            for (q, line) in block.iter() {
                                hits.clear();
                                index.search_into(q, radius, &mut hits);
                                hits.sort_unstable();
                                write_record(&mut buf, *line, &hits);
                            }
                            done.push((b, buf));
                        }
                        done
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("match worker panicked")).collect()
        });
        for (b, buf) in answered.into_iter().flatten() {
            results[b] = buf;
        }
        for r in &results {
            out.write_all(r)?;
        }
        batch.clear();
        Ok(())
    };
    let mut video_out = Vec::new();
    skipped += read_hashes(open(&args.queries)?, &args.queries, args.skip_invalid, |l, n| {
        n_queries += 1;
        match l {
            Line::Pdq(h) => {
                batch.push((h, n));
                if batch.len() == BATCH {
                    flush(&mut batch, &mut out)?;
                }
            }
            Line::Video(v) => {
                // Answered in place, after the hashes before it: output stays in input order.
                flush(&mut batch, &mut out)?;
                video_out.clear();
                video_query(&v, n, &mut video_out);
                out.write_all(&video_out)?;
            }
        }
        Ok(())
    })?;
    flush(&mut batch, &mut out)?;
    if args.stats {
        let q = started.elapsed().as_secs_f64() - loaded;
        eprintln!(
            "stats: {n_list} hashes loaded and indexed in {loaded:.2} s, {n_queries} queries in {q:.2} s, {:.3} ms/query",
            1000.0 * q / n_queries.max(1) as f64
        );
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        r => r.context("cannot write output")?,
    }
    Ok(if skipped > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_format() {
        let mut out = Vec::new();
        write_record(&mut out, 3, &[Hit { distance: 0, id: 7 }, Hit { distance: 4, id: 1 }]);
        write_record(&mut out, 4, &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"query\":3,\"matches\":[{\"line\":7,\"distance\":0},{\"line\":1,\"distance\":4}]}\n\
             {\"query\":4,\"matches\":[]}\n"
        );
    }

    #[test]
    fn lines() {
        assert!(parse_line("  ").is_none());
        assert!(parse_line("# comment").is_none());
        assert!(parse_line(&format!("{}\r", "a".repeat(64))).unwrap().is_ok());
        let e = parse_line("abc").unwrap().unwrap_err();
        assert!(e.contains("expected 64 hex digits"), "{e}");
    }
}
