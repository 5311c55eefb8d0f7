//! `spoor bench cases`: "review next" on a long queue, and case intake over real HTTP.
//!
//! 1. Fills the store with N queued cases (signals only, in batches), then times "review next"
//!    as reviewers use it: claim the oldest free case, decide it, claim the next (p50/p99 of
//!    the claim, and of the decision).
//! 2. Serves the real router on 127.0.0.1 with a media vault in the temporary directory and
//!    times `POST /v1/cases` of one image (a 512×512 JPEG by default) from several clients at
//!    once: each submission is hashed, matched, its content encrypted and stored, the case
//!    and its audit record written (reason `user_flag`, so every submission makes a case).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use spoor_bank::cases::{
    CaseMeta, CaseReason, CaseSignals, MediaKind, NewCase, NewDecision, Start, Verdict, MAIN_QUEUE,
};
use spoor_bank::{Category, Location, Role, Store};

use crate::bench::{percentile_ms, SplitMix};

/// Arguments of `spoor bench cases`.
#[derive(Args, Debug)]
pub struct CasesBenchArgs {
    /// Cases waiting in the queue when "review next" is timed.
    #[arg(long, default_value_t = 100_000)]
    cases: usize,
    /// "Review next" claims timed (each then decided, as a reviewer does).
    #[arg(long, default_value_t = 1000)]
    claims: usize,
    /// Submissions timed through `POST /v1/cases`.
    #[arg(long, default_value_t = 1000)]
    submissions: usize,
    /// Clients submitting at once.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The image submitted.
    #[arg(long, default_value = "../shared/testdata/pdq/bridge-mods/square-512x512.jpg")]
    image: PathBuf,
    /// PostgreSQL store instead of SQLite in a temporary folder (an empty database).
    #[arg(long, env = "SPOOR_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seed of the random data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Most cases written per group commit, one intake run for each value given in turn
    /// (e.g. `64,1,64,1` to compare group commit with writing each case alone in one run).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    intake_groups: Vec<usize>,
}

fn queued(rng: &mut SplitMix) -> NewCase {
    let h = rng.hash().to_bytes();
    NewCase {
        submitter: "key:bench".into(),
        meta: CaseMeta { reason: Some(CaseReason::UserFlag), ..Default::default() },
        media_kind: MediaKind::None,
        media: None,
        signals: CaseSignals {
            sha256: Some(h),
            pdq: Some(h),
            pdq_quality: Some(90),
            ..Default::default()
        },
        matches: vec![],
        start: Start::Queue(MAIN_QUEUE.into()),
    }
}

/// Runs `spoor bench cases`.
pub fn run(args: CasesBenchArgs) -> anyhow::Result<ExitCode> {
    let image = std::fs::read(&args.image).with_context(|| {
        format!("cannot read {} (give an image with --image)", args.image.display())
    })?;
    let tmp = tempfile::tempdir().context("cannot make a temporary folder")?;
    let location = match &args.database_url {
        Some(url) => Location::Postgres(url.clone()),
        None => Location::DataDir(tmp.path().join("data")),
    };
    let store: Arc<dyn Store> = spoor_bank::open(&location)?.into();
    let store_name = store.backend();

    // 1. A long queue, then "review next" as reviewers use it.
    let t = Instant::now();
    let mut rng = SplitMix(args.seed);
    let mut left = args.cases;
    while left > 0 {
        let n = left.min(1000);
        let batch: Vec<NewCase> = (0..n).map(|_| queued(&mut rng)).collect();
        store.create_cases(&batch)?;
        left -= n;
        eprint!("\rqueueing: {} of {} cases", args.cases - left, args.cases);
    }
    eprintln!("\rqueued {} cases in {:.1} s", args.cases, t.elapsed().as_secs_f64());
    let confirm = NewDecision {
        verdict: Some(Verdict::Confirm),
        category: Some(Category::Baseline),
        ..Default::default()
    };
    let (mut claims, mut decisions) = (Vec::new(), Vec::new());
    for i in 0..args.claims.min(args.cases) {
        let person = format!("user:reviewer{}", i % 8);
        let now = spoor_bank::model::now_ms();
        let t = Instant::now();
        let c = store
            .claim_next_case(MAIN_QUEUE, &person, now, 15 * 60_000)?
            .context("the queue ran out")?;
        claims.push(t.elapsed());
        let t = Instant::now();
        store.decide_case(c.id, &person, &confirm, now, true)?;
        decisions.push(t.elapsed());
    }
    claims.sort();
    decisions.sort();
    println!(
        "review next ({store_name}, {} queued): claim p50 {:.2} ms, p99 {:.2} ms; decision p50 {:.2} ms, p99 {:.2} ms ({} claims)",
        args.cases,
        percentile_ms(&claims, 50.0),
        percentile_ms(&claims, 99.0),
        percentile_ms(&decisions, 50.0),
        percentile_ms(&decisions, 99.0),
        claims.len()
    );

    // 2. Intake over HTTP, once per group size asked for.
    let follower: Arc<dyn Store> = spoor_bank::open(&location)?.into();
    let matcher = Arc::new(spoor_matcher::Matcher::load(follower)?);
    let key =
        spoor_server::auth::generate("bench-hoster", Role::Matcher, None, false, "cli:bench")?;
    store.create_key(&key.record, &key.secret_hash)?;
    for (round, &group) in args.intake_groups.iter().enumerate() {
        intake_round(&args, &image, &store, &matcher, &key, tmp.path(), round, group)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One intake run: the real router on 127.0.0.1, `args.submissions` submissions from
/// `args.clients` clients, cases written in groups of at most `group`.
#[allow(clippy::too_many_arguments)]
fn intake_round(
    args: &CasesBenchArgs,
    image: &[u8],
    store: &Arc<dyn Store>,
    matcher: &Arc<spoor_matcher::Matcher>,
    key: &spoor_server::auth::NewKey,
    tmp: &std::path::Path,
    round: usize,
    group: usize,
) -> anyhow::Result<()> {
    let keys = Arc::new(spoor_server::auth::KeyCache::default());
    keys.refresh(&**store)?;
    let vault = spoor_case::Vault::open(
        &tmp.join(format!("media-{round}")),
        spoor_case::MediaKey::generate()?,
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let config = spoor_server::Config {
        listen: addr,
        max_concurrent_uploads: args.clients.max(1) * 2,
        intake_group: group,
        ..Default::default()
    };
    let state = spoor_server::AppState::with_vault(
        store.clone(),
        matcher.clone(),
        keys,
        config,
        Some(Arc::new(vault)),
    );
    let app = spoor_server::app(state);
    rt.spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("spoor bench: the service stopped: {e}");
        }
    });
    let meta = serde_json::json!({"reason": "user_flag", "service": "bench"}).to_string();
    let submit = |http: &reqwest::blocking::Client| -> anyhow::Result<Duration> {
        let form = reqwest::blocking::multipart::Form::new().text("meta", meta.clone()).part(
            "file",
            reqwest::blocking::multipart::Part::bytes(image.to_vec()).file_name("x.jpg"),
        );
        let t = Instant::now();
        let r = http
            .post(format!("http://{addr}/v1/cases"))
            .bearer_auth(&key.key)
            .multipart(form)
            .send()?;
        let status = r.status();
        let body = r.text()?;
        anyhow::ensure!(status.as_u16() == 201, "POST /v1/cases: {status}: {body}");
        Ok(t.elapsed())
    };
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build()?;
    for _ in 0..10 {
        submit(&http)?;
    }
    let per_client = args.submissions.div_ceil(args.clients.max(1));
    let started = Instant::now();
    let mut times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.clients.max(1))
            .map(|_| {
                let http = http.clone();
                let submit = &submit;
                s.spawn(move || {
                    (0..per_client).map(|_| submit(&http)).collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let wall = started.elapsed();
    times.sort();
    println!(
        "POST /v1/cases ({}, {} bytes, {} clients, groups of at most {group}): {:.0} cases/s; p50 {:.1} ms, p99 {:.1} ms ({} cases)",
        store.backend(),
        image.len(),
        args.clients,
        times.len() as f64 / wall.as_secs_f64(),
        percentile_ms(&times, 50.0),
        percentile_ms(&times, 99.0),
        times.len()
    );
    // The service's tasks hold the stores; closing a PostgreSQL connection blocks, which a
    // runtime's thread may not do. The last references are dropped here, after the runtime.
    drop(rt);
    Ok(())
}
