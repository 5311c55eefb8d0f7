//! `spoor retention run`: applies the retention policy once, now or at a given time (to rehearse
//! a date, or in tests), as `spoor serve` does every hour.
//!
//! `spoor retention run [--retention FILE] [--dry-run] [--now TIME] [--media-key-file FILE
//! [--media-dir DIR]] [--session-max-age 12h] [--actor NAME]` prints what it erased (or, dry,
//! would erase) per class as one JSON line, and records it in the audit log (`retention_run`,
//! and `media_purge` for held content deleted).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::bank::StoreArgs;

/// `spoor retention`.
#[derive(Args, Debug)]
pub struct RetentionArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: RetentionCommand,
}

#[derive(Subcommand, Debug)]
enum RetentionCommand {
    /// Erase what the policy no longer allows to keep (see `spoor serve --retention`).
    Run {
        /// The retention file (TOML, `[retention]`); without it the legal maxima (365 days;
        /// messages 90 days).
        #[arg(long, env = "SPOOR_RETENTION", value_name = "PATH")]
        retention: Option<PathBuf>,
        /// Count only: change nothing (the count is recorded too).
        #[arg(long)]
        dry_run: bool,
        /// Run as at this time (RFC 3339) instead of now.
        #[arg(long)]
        now: Option<String>,
        /// The media key, to delete held content past its period.
        #[arg(long, env = "SPOOR_MEDIA_KEY_FILE", value_name = "PATH")]
        media_key_file: Option<PathBuf>,
        /// Where held content is [default: DATA_DIR/media].
        #[arg(long, env = "SPOOR_MEDIA_DIR", value_name = "DIR")]
        media_dir: Option<PathBuf>,
        /// Console sessions older than this are deleted (e.g. 12h, as `--session-max-age`).
        #[arg(long, default_value = "12h", value_parser = crate::serve::parse_duration)]
        session_max_age: std::time::Duration,
        /// Who runs it, for the audit log (default `cli:$USER`).
        #[arg(long)]
        actor: Option<String>,
    },
}

/// Runs `spoor retention`.
pub fn run(args: RetentionArgs) -> anyhow::Result<ExitCode> {
    let RetentionCommand::Run {
        retention,
        dry_run,
        now,
        media_key_file,
        media_dir,
        session_max_age,
        actor,
    } = args.command;
    let policy = match &retention {
        Some(p) => spoor_server::retention::load(p)?,
        None => spoor_bank::retention::Policy::default(),
    };
    let now = match now.as_deref() {
        Some(t) => spoor_bank::model::parse_time(t).map_err(|e| anyhow::anyhow!("--now: {e}"))?,
        None => spoor_bank::model::now_ms(),
    };
    let vault = match (media_key_file, media_dir, args.store.location()) {
        (None, _, _) => None,
        (Some(key), dir, loc) => {
            let dir = match (dir, loc) {
                (Some(d), _) => d,
                (None, spoor_bank::Location::DataDir(d)) => d.join("media"),
                (None, spoor_bank::Location::Postgres(_)) => anyhow::bail!(
                    "--media-key-file with --database-url needs --media-dir: where held case \
                     content is kept"
                ),
            };
            let key = spoor_case::MediaKey::read(&key)
                .with_context(|| format!("--media-key-file {}", key.display()))?;
            Some(
                spoor_case::Vault::open(&dir, key)
                    .with_context(|| format!("--media-dir {}", dir.display()))?,
            )
        }
    };
    let store = args.store.open()?;
    let actor = actor.unwrap_or_else(crate::bank::default_actor);
    let max_age = i64::try_from(session_max_age.as_millis()).unwrap_or(i64::MAX);
    let counts = spoor_server::retention::run(
        &*store,
        vault.as_ref(),
        &policy,
        max_age,
        now,
        dry_run,
        &actor,
    )
    .context("the retention run failed; nothing of its transaction was kept")?;
    let line = serde_json::json!({
        "at": spoor_bank::model::format_time(now),
        "dry_run": dry_run,
        "counts": counts,
    });
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}
