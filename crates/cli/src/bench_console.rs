//! `spoor bench console`: how fast the console's data pages answer on a large bank, over real
//! HTTP on 127.0.0.1, as a person clicks through them one at a time (each page audited as in
//! production): the entry list (first page, pages deep in the bank by cursor, filtered pages),
//! the search by PDQ hash (near entries through the matcher), an entry's page with its history,
//! the banks list, the dashboard and the audit log (which these requests fill). Reports p50/p99/max per page kind and the heaviest page.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use spoor_bank::{EntryUpdate, Location, NewBank, NewEntry, PersonRole, Store};
use spoor_core::{Hash256, SignalType};

use crate::bench::{percentile_ms, SplitMix};

/// Arguments of `spoor bench console`.
#[derive(Args, Debug)]
pub struct ConsoleBenchArgs {
    /// PDQ entries in the bank (1 % more MD5 entries are added, and some disabled).
    #[arg(long, default_value_t = 10_000_000)]
    entries: usize,
    /// Requests timed per page kind.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Where to keep the store; a store filled by an earlier run with the same --entries is
    /// reused [default: a new folder in the temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// PostgreSQL store instead of SQLite (an empty database, or one filled by an earlier run).
    #[arg(long, env = "SPOOR_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seed of the random data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const BANK: &str = "BENCH";

/// Fills the store unless an earlier run did: `n` PDQ entries, n/100 MD5 entries, 1,000
/// disabled ones and 200 with a longer history. Returns the ids with a history.
fn fill(store: &dyn Store, n: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    if let Ok(stats) = store.bank(BANK).and_then(|_| store.count_disabled(BANK)) {
        if stats > 0 {
            eprintln!("reusing the filled store");
            let ids = store.entries(BANK, 0, 200)?.iter().map(|e| e.id).collect();
            return Ok(ids);
        }
    }
    let t = Instant::now();
    store.create_bank(&NewBank { name: BANK.into(), ..Default::default() }, "cli:bench")?;
    let mut rng = SplitMix(seed);
    let mut session = store.import_session(BANK, "cli:bench", false)?;
    let mut left = n;
    let mut batch = Vec::with_capacity(50_000);
    while left > 0 {
        batch.clear();
        for i in 0..left.min(50_000) {
            batch.push(NewEntry::new(SignalType::Pdq, rng.hash().to_bytes().to_vec()));
            if i % 100 == 0 {
                let mut md5 = rng.hash().to_bytes().to_vec();
                md5.truncate(16);
                batch.push(NewEntry::new(SignalType::Md5, md5));
            }
        }
        left -= left.min(50_000);
        session.write_batch(&batch)?;
        eprint!("\rfilling: {} of {n} PDQ entries", n - left);
    }
    session.finish()?;
    eprintln!();
    // Disabled entries spread through the bank, and some entries with a history.
    let step = (n / 1000).max(1) as i64;
    for k in 0..1000i64.min(n as i64) {
        store.set_enabled(BANK, 1 + k * step, false, "cli:bench", "benchmark")?;
    }
    let ids: Vec<i64> = store.entries(BANK, 0, 200)?.iter().map(|e| e.id).collect();
    for &id in &ids {
        let u = EntryUpdate { tags: Some(vec!["reviewed".into()]), ..Default::default() };
        store.update_entry(BANK, id, &u, "cli:bench", "benchmark history")?;
        store.set_enabled(BANK, id, false, "cli:bench", "benchmark history")?;
        store.set_enabled(BANK, id, true, "cli:bench", "benchmark history")?;
    }
    eprintln!("store filled in {:.1} s", t.elapsed().as_secs_f64());
    Ok(ids)
}

/// A person with a live session; the session token.
fn person(store: &dyn Store) -> anyhow::Result<(String, String)> {
    let name = format!("bench.{}", std::process::id());
    let token = spoor_bank::people::SecretToken::generate()?;
    let u = store.create_user(
        &name,
        PersonRole::Admin,
        "cli:bench",
        &token.hash,
        spoor_bank::model::now_ms() + 60_000,
    )?;
    let hash = spoor_console::password::hash("a long benchmark password")
        .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))?;
    let now = spoor_bank::model::now_ms();
    store.set_password(u.id, &hash, now)?;
    store.set_totp_secret(u.id, &[7u8; 20])?;
    store.confirm_totp(u.id, now / 30_000, now)?;
    let session = spoor_bank::people::random_token()?;
    let csrf = spoor_bank::people::random_token()?;
    store.create_session(
        u.id,
        &spoor_bank::people::token_hash(&session),
        &csrf,
        now,
        Some("127.0.0.1"),
        Some("spoor bench"),
    )?;
    Ok((name, session))
}

/// Runs `spoor bench console`.
pub fn run(args: ConsoleBenchArgs) -> anyhow::Result<ExitCode> {
    let (location, dir, remove) = match (&args.database_url, &args.dir) {
        (Some(url), _) => (Location::Postgres(url.clone()), None, false),
        (None, Some(d)) => (Location::DataDir(d.clone()), Some(d.clone()), false),
        (None, None) => {
            let d =
                std::env::temp_dir().join(format!("spoor-bench-console-{}", std::process::id()));
            (Location::DataDir(d.clone()), Some(d), true)
        }
    };
    let result = (|| -> anyhow::Result<()> {
        let store: Arc<dyn Store> = spoor_bank::open(&location)?.into();
        let with_history = fill(&*store, args.entries, args.seed)?;
        let t = Instant::now();
        let follower: Arc<dyn Store> = spoor_bank::open(&location)?.into();
        let matcher = Arc::new(spoor_matcher::Matcher::load(follower)?);
        eprintln!("matcher loaded in {:.1} s", t.elapsed().as_secs_f64());
        let (_, session) = person(&*store)?;
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let config = spoor_server::Config { listen: addr, ..Default::default() };
        let keys = Arc::new(spoor_server::auth::KeyCache::default());
        let state = spoor_server::AppState::new(store.clone(), matcher.clone(), keys, config);
        let app = spoor_server::app(state);
        rt.spawn(async move { axum_serve(listener, app).await });
        let cookie = format!("{}={session}", spoor_console::session::session_cookie(false));
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?;
        let get = |path: &str| -> anyhow::Result<(Duration, usize)> {
            let t = Instant::now();
            let r = http
                .get(format!("http://{addr}{path}"))
                .header("Cookie", &cookie)
                .header("Accept", "text/html")
                .send()?;
            let status = r.status();
            let body = r.bytes()?;
            let took = t.elapsed();
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            Ok((took, body.len()))
        };
        // The bank's id range, for cursors deep in the bank.
        let max_id = store.entries(BANK, 0, 1)?.first().map_or(1, |e| e.id)
            + (args.entries + args.entries / 100) as i64;
        let sample: Vec<Hash256> = {
            let mut out = Vec::new();
            let mut after = 0;
            let mut rng = SplitMix(args.seed ^ 0xabc);
            while out.len() < 200 {
                let page = store.entries(BANK, after, 1)?;
                let Some(e) = page.first() else { break };
                if e.signal_type == SignalType::Pdq {
                    out.push(Hash256::from_bytes(e.value.clone().try_into().unwrap_or([0; 32])));
                }
                after = (rng.next() % max_id as u64) as i64;
            }
            out
        };
        anyhow::ensure!(!sample.is_empty(), "the bank holds no PDQ entries");
        let mut rng = SplitMix(args.seed ^ 0x5eed);
        type Kind<'a> = (&'a str, Box<dyn FnMut(&mut SplitMix) -> String + 'a>);
        let mut kinds: Vec<Kind> = vec![
            ("dashboard", Box::new(|_| "/".to_string())),
            ("banks list", Box::new(|_| "/banks".to_string())),
            ("entry list, first page", Box::new(|_| format!("/banks/{BANK}"))),
            (
                "entry list, page by cursor",
                Box::new(move |r| format!("/banks/{BANK}?after={}", r.next() % max_id as u64)),
            ),
            (
                "entry list, disabled only",
                Box::new(move |r| {
                    format!("/banks/{BANK}?state=disabled&after={}", r.next() % max_id as u64)
                }),
            ),
            (
                "entry list, MD5 only",
                Box::new(move |r| {
                    format!("/banks/{BANK}?type=md5&after={}", r.next() % max_id as u64)
                }),
            ),
            (
                "search by PDQ (near, radius 31)",
                Box::new(|r| {
                    let mut h = sample[(r.next() % sample.len() as u64) as usize];
                    for _ in 0..8 {
                        h.flip_bit((r.next() % 256) as usize);
                    }
                    let hex: String = h.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
                    format!("/banks/{BANK}?q={hex}")
                }),
            ),
            (
                "entry page with history",
                Box::new(|r| {
                    let id = if r.next() % 2 == 0 && !with_history.is_empty() {
                        with_history[(r.next() % with_history.len() as u64) as usize]
                    } else {
                        1 + (r.next() % (max_id as u64 - 1)) as i64
                    };
                    format!("/banks/{BANK}/entries/{id}")
                }),
            ),
            ("audit log, newest page", Box::new(|_| "/audit".to_string())),
            ("audit log, filtered by action", Box::new(|_| "/audit?action=entry_view".to_string())),
        ];
        println!(
            "{:<34} {:>9} {:>8} {:>8} {:>8} {:>10}",
            "page", "requests", "p50_ms", "p99_ms", "max_ms", "max_KB"
        );
        for (name, next) in kinds.iter_mut() {
            for _ in 0..5 {
                let path = next(&mut rng);
                get(&path).with_context(|| format!("warming up {name}"))?;
            }
            let mut times = Vec::with_capacity(args.requests);
            let mut heaviest = 0;
            for _ in 0..args.requests {
                let path = next(&mut rng);
                match get(&path) {
                    Ok((t, bytes)) => {
                        times.push(t);
                        heaviest = heaviest.max(bytes);
                    }
                    // An entry id that does not exist (ids of a reused store may have gaps).
                    Err(e) if name.starts_with("entry page") && e.to_string().contains("404") => {}
                    Err(e) => return Err(e.context(format!("timing {name}"))),
                }
            }
            times.sort();
            println!(
                "{:<34} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>10.1}",
                name,
                times.len(),
                percentile_ms(&times, 50.0),
                percentile_ms(&times, 99.0),
                times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
                heaviest as f64 / 1024.0
            );
        }
        Ok(())
    })();
    if remove {
        if let Some(d) = dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    result.map(|()| ExitCode::SUCCESS)
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("spoor bench: the service stopped: {e}");
    }
}
