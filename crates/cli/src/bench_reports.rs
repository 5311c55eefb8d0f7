//! `spoor bench reports`: report delivery throughput through failing receivers.
//!
//! Makes N confirmed cases (each with 1 KiB of held, encrypted content; each reported alone to
//! NCMEC and to the EU Centre), starts a test NCMEC and a test EU Centre on 127.0.0.1 that fail
//! a share of requests (503 before and after doing the work, closed connections, no answer),
//! and runs the service's delivery workers until every report is finished. Prints reports a
//! second and what the receivers saw, and checks that every report was finished exactly once
//! (NCMEC) and arrived under one key with one body (EU Centre): a run that sent anything twice
//! fails.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use spoor_bank::cases::{
    CaseMedia, CaseMeta, CaseReason, CaseSignals, Effects, MediaKind, NewCase, Start,
};
use spoor_bank::reports::{ReportQuery, ReportRequest, ReportState};
use spoor_bank::{Category, Location, Store};

use crate::bench_receivers::{Chaos, EuCentre, Ncmec};

/// Arguments of `spoor bench reports`.
#[derive(Args, Debug)]
pub struct ReportsBenchArgs {
    /// Confirmed cases, each reported to NCMEC and to the EU Centre.
    #[arg(long, default_value_t = 10_000)]
    cases: usize,
    /// Share of requests the receivers fail (0 to 0.9).
    #[arg(long, default_value_t = 0.3)]
    failures: f64,
    /// Delivery workers.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// PostgreSQL store instead of SQLite in a temporary folder (an empty database).
    #[arg(long, env = "SPOOR_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// Runs `spoor bench reports`.
pub fn run(args: ReportsBenchArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=0.9).contains(&args.failures) {
        bail!("--failures {}: give a share from 0 to 0.9", args.failures);
    }
    if args.cases == 0 || !(1..=64).contains(&args.workers) {
        bail!("--cases must be at least 1 and --workers 1 to 64");
    }
    let tmp = tempfile::tempdir().context("cannot make a temporary folder")?;
    let location = match &args.database_url {
        Some(url) => Location::Postgres(url.clone()),
        None => Location::DataDir(tmp.path().join("data")),
    };
    let store: Arc<dyn Store> = spoor_bank::open(&location)?.into();
    let vault = Arc::new(spoor_case::Vault::open(
        &tmp.path().join("media"),
        spoor_case::MediaKey::generate()?,
    )?);

    // 1. Confirmed cases, each with its content held and its two reports made with it.
    let t = Instant::now();
    let to_both = |_: &spoor_bank::cases::Case| Effects {
        messages: vec![],
        reports: ["ncmec", "eu_centre"]
            .iter()
            .map(|r| ReportRequest { recipient: (*r).into(), group: None, window_ms: 0 })
            .collect(),
    };
    let mut made = 0;
    while made < args.cases {
        let n = (args.cases - made).min(500);
        let contents: Vec<Vec<u8>> = (made..made + n)
            .map(|i| format!("spoor bench report file {i}\n{}", "x".repeat(1000)).into_bytes())
            .collect();
        let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
        let ids = vault.put_all(&refs)?;
        let batch: Vec<NewCase> = contents
            .iter()
            .zip(&ids)
            .enumerate()
            .map(|(k, (bytes, id))| {
                let d = spoor_hash::digest::Digests::of(bytes);
                NewCase {
                    submitter: "key:bench".into(),
                    meta: CaseMeta {
                        reason: Some(CaseReason::UserFlag),
                        service: Some("photos".into()),
                        content_ref: Some(format!("https://photos.example/item-{}", made + k)),
                        uploader_ref: Some(format!("user-{}", made + k)),
                        uploaded_at: Some(1_764_000_000_000),
                        upload_ip: Some("192.0.2.7".into()),
                        publicly_available: Some(false),
                    },
                    media_kind: MediaKind::File,
                    media: Some(CaseMedia { id: id.to_string(), bytes: bytes.len() as u64 }),
                    signals: CaseSignals {
                        md5: Some(d.md5.0),
                        sha1: Some(d.sha1.0),
                        sha256: Some(d.sha256.0),
                        ..Default::default()
                    },
                    matches: vec![],
                    start: Start::AutoConfirm { category: Some(Category::Baseline) },
                }
            })
            .collect();
        store.create_cases_notifying(&batch, &to_both)?;
        made += n;
        eprint!("\rconfirming: {made} of {} cases", args.cases);
    }
    eprintln!("\rconfirmed {} cases in {:.1} s", args.cases, t.elapsed().as_secs_f64());

    // 2. Failing receivers, and the service's workers.
    let ncmec = Ncmec::start("bench", "bench-password");
    let eu = EuCentre::start();
    let share = args.failures;
    let chaos = Chaos {
        fail_before: share / 3.0,
        reset: share / 6.0,
        fail_after: share / 3.0,
        hang_after: share / 6.0,
        hang: Duration::from_millis(1200),
    };
    ncmec.chaos(chaos);
    eu.chaos(chaos);
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let cfg = spoor_server::delivery::DeliveryConfig {
        ncmec: Some(spoor_server::delivery::NcmecTarget {
            base_url: ncmec.base_url(),
            environment: spoor_report::ncmec::Environment::Test,
            username: "bench".into(),
            password: zeroize::Zeroizing::new("bench-password".into()),
            reporter: spoor_report::Reporter {
                email: "reports@hoster.example".into(),
                first_name: None,
                last_name: None,
                phone: None,
                company_template: None,
                terms_of_service: None,
                legal_url: None,
            },
        }),
        eu: Some(spoor_server::delivery::EuTarget {
            url: eu.url(),
            key: signing,
            key_id: "bench".into(),
            provider: spoor_report::Provider {
                name: "Hoster B.V.".into(),
                address: "Keizersgracht 1, Amsterdam".into(),
                contact_email: "eu@hoster.example".into(),
                legal_representative: None,
                legal_basis: "Regulation (EU) 2021/1232".into(),
            },
        }),
        workers: args.workers,
        max_attempts: 1000,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        timeout: Duration::from_secs(1),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let t = Instant::now();
    let workers = spoor_server::delivery::spawn_workers(
        store.clone(),
        Some(vault),
        cfg,
        Some(Arc::new(spoor_server::delivery::NoNames)),
        stop.clone(),
    )?;
    let total = 2 * args.cases as u64;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let done: u64 = store
            .report_counts()?
            .iter()
            .filter(|(_, s, _)| *s == ReportState::Finished)
            .map(|(_, _, n)| n)
            .sum();
        eprint!("\rdelivered: {done} of {total} reports");
        if done == total {
            break;
        }
        if t.elapsed() > Duration::from_secs(3600) {
            bail!("not every report was delivered within an hour");
        }
    }
    let took = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    eprintln!();

    // 3. Exactly once.
    let mut uuids = Vec::new();
    let mut after = 0;
    loop {
        let page = store.reports(&ReportQuery { after, limit: 1000, ..Default::default() })?;
        let Some(last) = page.last() else { break };
        after = last.id;
        uuids.extend(page.into_iter().map(|r| (r.recipient, r.uuid)));
    }
    let (opened, finished_twice, finished, retracted) = ncmec.with(|st| {
        let f = st.finished();
        let twice = f.values().filter(|v| v.len() != 1).count();
        let retracted = st.reports.values().filter(|r| r.retracted).count();
        (st.reports.len(), twice, f.len(), retracted)
    });
    let eu_keys = eu.with(|st| {
        let bad = st.by_key.values().filter(|v| {
            v.iter().map(|(b, _)| b.as_str()).collect::<std::collections::HashSet<_>>().len() != 1
        });
        (st.by_key.len(), bad.count())
    });
    let ncmec_uuids = uuids.iter().filter(|(r, _)| r == "ncmec").count();
    println!(
        "reports: {total} ({} NCMEC, {} EU Centre) in {took:.1} s: {:.0} reports/s with {:.0}% of requests failing, {} workers, {}",
        ncmec_uuids,
        uuids.len() - ncmec_uuids,
        total as f64 / took,
        share * 100.0,
        args.workers,
        store.backend()
    );
    println!(
        "NCMEC receiver: {} requests, {opened} reports opened, {retracted} retracted, {finished} finished, {finished_twice} finished more than once",
        ncmec.requests()
    );
    println!(
        "EU Centre receiver: {} requests, {} keys, {} keys with more than one body",
        eu.requests(),
        eu_keys.0,
        eu_keys.1
    );
    if finished != ncmec_uuids
        || finished_twice != 0
        || eu_keys.0 != uuids.len() - ncmec_uuids
        || eu_keys.1 != 0
    {
        bail!("a report was lost or sent twice");
    }
    Ok(ExitCode::SUCCESS)
}
