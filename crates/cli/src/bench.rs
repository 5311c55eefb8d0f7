//! `spoor bench`: reproducible benchmarks on seeded random data.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use spoor_core::Hash256;
use spoor_index::{Hit, PdqIndex};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `spoor bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// The exact Hamming index: build time, memory, queries per second.
    Index(IndexArgs),
    /// Matcher start-up: a full load from the store against a start from a snapshot.
    MatcherStart(MatcherStartArgs),
    /// The audit log: the time one record adds to an action (single appends, p50/p99), and a
    /// full verification of a log of N records.
    Audit(AuditBenchArgs),
    /// The console's data pages over HTTP on a large bank: entry lists, search by PDQ, entry
    /// history; p50/p99 and page weight.
    Console(crate::bench_console::ConsoleBenchArgs),
    /// Cases: "review next" on a long queue (p50/p99), and `POST /v1/cases` of an image over
    /// HTTP (cases a second).
    Cases(crate::bench_cases::CasesBenchArgs),
    /// Reports: delivery to a test NCMEC and EU Centre that fail a share of requests (reports a
    /// second), checked exactly once.
    Reports(crate::bench_reports::ReportsBenchArgs),
    /// The annual report over a year of recorded cases (10 million by default): time to make
    /// it from the store.
    Statistics(crate::bench_statistics::StatisticsBenchArgs),
}

#[derive(Args, Debug)]
struct AuditBenchArgs {
    /// Records in the log to verify.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Single appends timed, one transaction each (as a console action makes them).
    #[arg(long, default_value_t = 2000)]
    appends: usize,
    /// PostgreSQL store instead of SQLite in a temporary folder (use an empty database).
    #[arg(long, env = "SPOOR_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Args, Debug)]
struct MatcherStartArgs {
    /// PDQ entries in the store.
    #[arg(long, default_value_t = 1_000_000)]
    entries: usize,
    /// Changes made after the snapshot, applied from the log at start.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Where to make the store and the snapshot [default: a new folder in the temporary
    /// directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Seed of the random data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
struct IndexArgs {
    /// Haystack sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    sizes: Vec<usize>,
    /// Queries per size: half near copies of a haystack entry (0–40 bits flipped), half random.
    #[arg(long, default_value_t = 20_000)]
    queries: usize,
    /// Search radius.
    #[arg(long, default_value_t = 31)]
    radius: u32,
    /// Threads for the all-threads figure [default: all cores].
    #[arg(long, short = 'j')]
    threads: Option<usize>,
    /// Number of chunks (tables) instead of the automatic choice, for tuning (8 to 32).
    #[arg(long, value_parser = clap::value_parser!(u32).range(8..=32))]
    chunks: Option<u32>,
    /// Seed of the random data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write each haystack and query set as text files (`haystack-N.txt`,
    /// `queries-N.txt`) into this folder, for comparisons with other tools.
    #[arg(long, value_name = "DIR")]
    write_data: Option<PathBuf>,
}

/// SplitMix64: a small, well-mixed, seedable generator for benchmark data.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn hash(&mut self) -> Hash256 {
        Hash256::from_words([self.next(), self.next(), self.next(), self.next()])
    }
}

/// Seeded haystack and queries.
fn data(n: usize, q: usize, seed: u64) -> (Vec<Hash256>, Vec<Hash256>) {
    let mut rng = SplitMix(seed ^ (n as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let haystack: Vec<Hash256> = (0..n).map(|_| rng.hash()).collect();
    let queries = (0..q)
        .map(|i| {
            if i % 2 == 0 && n > 0 {
                let mut h = haystack[(rng.next() % n as u64) as usize];
                for _ in 0..rng.next() % 41 {
                    h.flip_bit((rng.next() % 256) as usize);
                }
                h
            } else {
                rng.hash()
            }
        })
        .collect();
    (haystack, queries)
}

fn write_lines(path: &PathBuf, hashes: &[Hash256]) -> anyhow::Result<()> {
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for h in hashes {
        writeln!(w, "{h}")?;
    }
    w.flush().with_context(|| format!("cannot write {}", path.display()))
}

/// Resident set size of this process in bytes (Linux), if known.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn run_queries(index: &PdqIndex, queries: &[Hash256], radius: u32, threads: usize) -> (f64, usize) {
    let start = Instant::now();
    let per = queries.len().div_ceil(threads.max(1)).max(1);
    let found: usize = std::thread::scope(|s| {
        let workers: Vec<_> = queries
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let mut hits: Vec<Hit> = Vec::new();
                    let mut n = 0;
                    for q in part {
                        hits.clear();
                        index.search_into(q, radius, &mut hits);
                        n += hits.len();
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("query worker panicked")).sum()
    });
    (queries.len() as f64 / start.elapsed().as_secs_f64(), found)
}

fn bench_index(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let threads = args.threads.unwrap_or_else(|| crate::threads(None));
    println!(
        "{:>11} {:>9} {:>8} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10}",
        "entries",
        "build_s",
        "tables",
        "heap_B/e",
        "rss_B/e",
        "q/s_1thr",
        format!("q/s_{threads}thr"),
        "ms/q_1thr",
        "change_us"
    );
    for &n in &args.sizes {
        let (haystack, queries) = data(n, args.queries, args.seed);
        if let Some(dir) = &args.write_data {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_lines(&dir.join(format!("haystack-{n}.txt")), &haystack)?;
            write_lines(&dir.join(format!("queries-{n}.txt")), &queries)?;
        }
        let entries: Vec<(Hash256, u64)> =
            haystack.iter().enumerate().map(|(i, h)| (*h, i as u64 + 1)).collect();
        drop(haystack);
        let rss_before = resident_bytes();
        let start = Instant::now();
        let index = match args.chunks {
            Some(m) => PdqIndex::build_with_chunks(entries, m, threads)?,
            None => PdqIndex::build_parallel(entries, threads),
        };
        let build = start.elapsed().as_secs_f64();
        let rss_after = resident_bytes();
        let stats = index.stats();
        let (qps1, found1) = run_queries(&index, &queries, args.radius, 1);
        let (qpsn, foundn) = run_queries(&index, &queries, args.radius, threads);
        assert_eq!(found1, foundn, "thread count changed the results");
        // Snapshot round trip through a temporary file; the loaded index must answer alike.
        let sample = &queries[..queries.len().min(1000)];
        let (_, found_sample) = run_queries(&index, sample, args.radius, threads);
        let snap =
            std::env::temp_dir().join(format!("spoor-bench-index-{}-{n}.snap", std::process::id()));
        let start = Instant::now();
        index.save(std::fs::File::create(&snap).context("cannot create snapshot file")?, 1)?;
        let save_s = start.elapsed().as_secs_f64();
        drop(index);
        let start = Instant::now();
        let (mut index, _) = PdqIndex::load(std::fs::File::open(&snap)?)?;
        let load_s = start.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&snap);
        let (_, found_loaded) = run_queries(&index, sample, args.radius, threads);
        anyhow::ensure!(found_loaded == found_sample, "the loaded snapshot answered differently");
        // A single change on the loaded index, visible to the very next query: insert, find, remove, miss.
        let probe = queries[0];
        let start = Instant::now();
        index.insert(probe, u64::MAX);
        let seen = index.search(&probe, 0).iter().any(|h| h.id == u64::MAX);
        index.remove(&probe, u64::MAX);
        let gone = !index.search(&probe, 0).iter().any(|h| h.id == u64::MAX);
        let change_us = start.elapsed().as_secs_f64() * 1e6;
        anyhow::ensure!(seen && gone, "a live change was not visible to the next query");
        let rss = match (rss_before, rss_after) {
            (Some(a), Some(b)) if b > a => format!("{:.1}", (b - a) as f64 / n as f64),
            _ => "-".to_string(),
        };
        println!(
            "{:>11} {:>9.2} {:>8} {:>10.1} {:>10} {:>12.0} {:>12.0} {:>10.3} {:>10.1} {:>8.2} {:>8.2}",
            n,
            build,
            stats.chunks,
            stats.heap_bytes as f64 / n as f64,
            rss,
            qps1,
            qpsn,
            1000.0 / qps1,
            change_us,
            save_s,
            load_s
        );
        drop(index);
    }
    Ok(ExitCode::SUCCESS)
}

/// Fills a fresh SQLite store with seeded PDQ entries, then starts a matcher from it twice in
/// one run: a full load, and from a snapshot plus the changes made after it.
fn bench_matcher_start(args: MatcherStartArgs) -> anyhow::Result<ExitCode> {
    use spoor_bank::{Location, NewBank, NewEntry, Store};
    use spoor_core::SignalType;
    use spoor_matcher::{Matcher, Scope, Start};
    use std::sync::Arc;

    let (dir, remove) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => {
            (std::env::temp_dir().join(format!("spoor-bench-start-{}", std::process::id())), true)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = (|| -> anyhow::Result<()> {
        let store: Arc<dyn Store> = spoor_bank::open(&Location::DataDir(dir.clone()))?.into();
        let (haystack, queries) = data(args.entries + args.changes, 2000, args.seed);
        let start = Instant::now();
        store.create_bank(&NewBank { name: "BENCH".into(), ..Default::default() }, "bench")?;
        let (before, after) = haystack.split_at(args.entries);
        let mut session = store.import_session("BENCH", "bench", false)?;
        for part in before.chunks(50_000) {
            let batch: Vec<NewEntry> = part
                .iter()
                .map(|h| NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec()))
                .collect();
            session.write_batch(&batch)?;
        }
        session.finish()?;
        eprintln!(
            "store filled: {} entries in {:.1} s",
            args.entries,
            start.elapsed().as_secs_f64()
        );

        let t = Instant::now();
        let full = Matcher::load(store.clone())?;
        let full_s = t.elapsed().as_secs_f64();
        let snap = dir.join("matcher.snapshot");
        let t = Instant::now();
        full.write_snapshot(&snap)?;
        let write_s = t.elapsed().as_secs_f64();
        let snap_bytes = std::fs::metadata(&snap)?.len();
        // Changes after the snapshot: new entries, which the start from the snapshot applies.
        for part in after.chunks(10_000) {
            let batch: Vec<NewEntry> = part
                .iter()
                .map(|h| NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec()))
                .collect();
            store.add_entries("BENCH", &batch, "bench")?;
        }
        full.catch_up()?;
        let t = Instant::now();
        let (fast, how) = Matcher::load_with_snapshot(store.clone(), &snap)?;
        let snap_s = t.elapsed().as_secs_f64();
        let Start::Snapshot { caught_up, .. } = how else {
            anyhow::bail!("the snapshot was not used: {how:?}");
        };
        for q in &queries {
            anyhow::ensure!(
                fast.match_pdq(q, &Scope::All) == full.match_pdq(q, &Scope::All),
                "the matcher started from the snapshot answered differently"
            );
        }
        println!(
            "{:>11} {:>12} {:>12} {:>13} {:>12} {:>10} {:>8}",
            "entries",
            "full_load_s",
            "snapshot_s",
            "changes_after",
            "write_s",
            "snap_MB",
            "speedup"
        );
        println!(
            "{:>11} {:>12.2} {:>12.2} {:>13} {:>12.2} {:>10.0} {:>7.1}x",
            args.entries,
            full_s,
            snap_s,
            caught_up,
            write_s,
            snap_bytes as f64 / 1e6,
            full_s / snap_s
        );
        Ok(())
    })();
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.map(|()| ExitCode::SUCCESS)
}

/// Runs `spoor bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Index(a) => bench_index(a),
        What::MatcherStart(a) => bench_matcher_start(a),
        What::Audit(a) => bench_audit(a),
        What::Console(a) => crate::bench_console::run(a),
        What::Cases(a) => crate::bench_cases::run(a),
        What::Reports(a) => crate::bench_reports::run(a),
        What::Statistics(a) => crate::bench_statistics::run(a),
    }
}

/// Percentile `p` (0–100) of sorted durations, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn bench_audit(args: AuditBenchArgs) -> anyhow::Result<ExitCode> {
    use spoor_audit::{ActorKind, NewRecord};
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let location = match &args.database_url {
        Some(url) => spoor_bank::Location::Postgres(url.clone()),
        None => spoor_bank::Location::DataDir(dir.path().join("data")),
    };
    let store = spoor_bank::open(&location)?;
    if store.audit_head()?.is_some() {
        anyhow::bail!("the store's audit log is not empty: give an empty database");
    }
    let record = |i: usize| {
        NewRecord::new(ActorKind::User, "reviewer1", "entries_view", "bank", "HOTLINE")
            .with_details(serde_json::json!({
                "after": i, "count": 50, "first_id": i, "last_id": i + 49, "address": "127.0.0.1",
            }))
    };
    // Single appends, each its own transaction, as a console action makes one.
    let mut times = Vec::with_capacity(args.appends);
    for i in 0..args.appends {
        let t = Instant::now();
        store.audit_append(&record(i))?;
        times.push(t.elapsed());
    }
    // The same, committed without waiting for the flush (how page views are recorded).
    let mut relaxed = Vec::with_capacity(args.appends);
    for i in 0..args.appends {
        let t = Instant::now();
        store.audit_append_relaxed(&record(i))?;
        relaxed.push(t.elapsed());
    }
    for (what, times) in [("flushed", &mut times), ("relaxed", &mut relaxed)] {
        times.sort_unstable();
        println!(
            "audit append, {what} ({}, {} single appends): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            store.backend(),
            args.appends,
            percentile_ms(times, 50.0),
            percentile_ms(times, 99.0),
            percentile_ms(times, 100.0),
        );
    }
    // Fill up to N records in batches, then verify everything.
    let fill = Instant::now();
    let mut n = 2 * args.appends;
    while n < args.records {
        let batch: Vec<NewRecord> = (n..args.records.min(n + 10_000)).map(record).collect();
        n += batch.len();
        store.audit_append_all(&batch)?;
    }
    let filled = fill.elapsed();
    let t = Instant::now();
    let report = spoor_bank::audit::verify(&*store, &[], None, &mut |_| {})?;
    let took = t.elapsed();
    if let Some(b) = report.broken {
        anyhow::bail!("the benchmark's own log does not verify: {b}");
    }
    println!(
        "audit verify ({}): {} records in {:.2} s ({:.0} records/s; filling took {:.1} s)",
        store.backend(),
        report.records,
        took.as_secs_f64(),
        report.records as f64 / took.as_secs_f64(),
        filled.as_secs_f64(),
    );
    Ok(ExitCode::SUCCESS)
}
