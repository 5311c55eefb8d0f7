//! `spoor bench statistics`: the annual report over a year of many recorded cases.
//!
//! Fills a fresh store with N cases spread evenly over a calendar year (the process's clock is
//! set to each day in turn, as `spoor serve --clock-start` does), matched by MD5 or by PDQ in
//! each distance band, most decided by the banks' rules, some left open, then makes the year's
//! annual report (`spoor_console::annual::make`, what `spoor reports annual` and the console
//! run) several times and prints each time.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use spoor_bank::cases::{CaseMatch, CaseMeta, CaseReason, CaseSignals, MediaKind, NewCase, Start};
use spoor_bank::retention::DAY_MS;
use spoor_bank::{Category, Location, NewBank, Store};
use spoor_core::SignalType;

use crate::bench::SplitMix;

/// Arguments of `spoor bench statistics`.
#[derive(Args, Debug)]
pub struct StatisticsBenchArgs {
    /// Cases recorded over the year.
    #[arg(long, default_value_t = 10_000_000)]
    cases: usize,
    /// The year they are recorded in.
    #[arg(long, default_value_t = 2025)]
    year: i32,
    /// Reports made (each timed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keep the SQLite store in this folder (made if missing; cases already there are kept and
    /// counted, so a report can be timed again without recording anew).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// PostgreSQL store instead of SQLite in a temporary folder (an empty database).
    #[arg(long, env = "SPOOR_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seed of the random data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn case(rng: &mut SplitMix, i: usize) -> NewCase {
    let h = rng.hash().to_bytes();
    let (signal_type, distance) = match i % 10 {
        0..=5 => (SignalType::Md5, 0),
        6 => (SignalType::Pdq, 0),
        7 => (SignalType::Pdq, 6),
        8 => (SignalType::Pdq, 15),
        _ => (SignalType::Pdq, 27),
    };
    NewCase {
        submitter: "key:bench".into(),
        meta: CaseMeta {
            reason: Some(CaseReason::Match),
            service: Some(["photos", "videos", "chat"][i % 3].into()),
            ..Default::default()
        },
        media_kind: MediaKind::None,
        media: None,
        signals: CaseSignals { sha256: Some(h), ..Default::default() },
        matches: vec![CaseMatch {
            bank: "BENCH".into(),
            entry_id: (i % 100_000) as i64 + 1,
            signal_type,
            distance,
        }],
        // Four in five decided by the rules; the rest wait for a person.
        start: if i % 5 == 4 {
            Start::Queue(spoor_bank::cases::MAIN_QUEUE.into())
        } else {
            Start::AutoConfirm { category: Some(Category::Baseline) }
        },
    }
}

/// Runs `spoor bench statistics`.
pub fn run(args: StatisticsBenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir().context("cannot make a temporary folder")?;
    let location = match (&args.database_url, &args.data_dir) {
        (Some(url), _) => Location::Postgres(url.clone()),
        (None, Some(dir)) => Location::DataDir(dir.clone()),
        (None, None) => Location::DataDir(tmp.path().join("data")),
    };
    let store: Arc<dyn Store> = spoor_bank::open(&location)?.into();
    let name = store.backend();
    if store.bank("BENCH").is_err() {
        store.create_bank(&NewBank { name: "BENCH".into(), ..Default::default() }, "cli:bench")?;
    }
    let start = spoor_bank::model::parse_time(&format!("{:04}-01-01T00:00:00Z", args.year))
        .map_err(|e| anyhow::anyhow!("--year: {e}"))?;
    let per_day = args.cases.div_ceil(365).max(1);
    let mut rng = SplitMix(args.seed);
    let t = Instant::now();
    let mut made = 0;
    for day in 0..365 {
        // Each day's cases recorded at that day's noon (the process's clock only).
        spoor_bank::model::set_clock(start + day * DAY_MS + DAY_MS / 2);
        let mut left = per_day.min(args.cases - made);
        while left > 0 {
            let n = left.min(1000);
            let batch: Vec<NewCase> = (made..made + n).map(|i| case(&mut rng, i)).collect();
            store.create_cases(&batch)?;
            made += n;
            left -= n;
        }
        if day % 30 == 29 {
            eprintln!("recording: {made} of {} cases", args.cases);
        }
    }
    eprintln!("recorded {made} cases in {:.1} s", t.elapsed().as_secs_f64());
    let sources = spoor_console::annual::Sources::default();
    let mut times = Vec::new();
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let a = spoor_console::annual::make(&*store, args.year, &sources, start)
            .map_err(|e| anyhow::anyhow!("cannot make the report: {e}"))?;
        times.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(a.cases.made >= made as u64, "the report counts {} cases", a.cases.made);
        made = a.cases.made as usize;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "annual report ({name}, {made} cases in {}): {} (median {:.2} s)",
        args.year,
        times.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", "),
        times[times.len() / 2]
    );
    Ok(ExitCode::SUCCESS)
}
