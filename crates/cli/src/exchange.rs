//! `spoor exchange`: follow another Spoor instance's bank into a local one.
//!
//! `pull` reads the source's change log with an exchange key (`GET /v1/banks/{name}/changes`),
//! page by page from where the exchange last stopped, applies each page to the local bank
//! (`spoor_bank::exchange::apply`: provenance kept, local decisions win, conflicts reported) and
//! saves the position after each page. Stopped anywhere, a pull started again loses and repeats
//! nothing.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde::Deserialize;
use spoor_bank::exchange::{apply, Position, RemoteChange};

use crate::bank::StoreArgs;

/// `spoor exchange`.
#[derive(Args, Debug)]
pub struct ExchangeArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: ExchangeCommand,
}

#[derive(Subcommand, Debug)]
enum ExchangeCommand {
    /// Pull what changed in a bank of another Spoor instance into a local bank, once.
    Pull {
        /// The exchange's name: the `source_org` of the entries it adds, and the key its
        /// position is kept under.
        name: String,
        /// The source service's base URL (`https://spoor.partner.example`).
        #[arg(long)]
        from: String,
        /// The bank there.
        #[arg(long)]
        bank: String,
        /// The bank here (it must exist: `spoor bank create`).
        #[arg(long)]
        into: String,
        /// A file holding the exchange key the source gave (`spoor keys create --role exchange
        /// --banks BANK` there).
        #[arg(long, env = "SPOOR_EXCHANGE_KEY_FILE")]
        key_file: PathBuf,
        /// Records read per request (1–10000).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        page: u64,
        /// Longest one request may take (seconds).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

#[derive(Deserialize)]
struct Page {
    changes: Vec<RemoteChange>,
    next_after: i64,
    last_seq: i64,
}

/// Runs `spoor exchange`.
pub fn run(args: ExchangeArgs) -> anyhow::Result<ExitCode> {
    let ExchangeCommand::Pull { name, from, bank, into, key_file, page, timeout } = args.command;
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        bail!("exchange name {name:?}: give a short name for the source (1–64 characters)");
    }
    let key = std::fs::read_to_string(&key_file)
        .with_context(|| format!("cannot read the exchange key from {}", key_file.display()))?;
    let key = key.trim();
    if !key.starts_with("spoor_") {
        bail!("{}: this is not a Spoor key (spoor_…)", key_file.display());
    }
    let base = from.trim_end_matches('/').to_string();
    let parsed =
        reqwest::Url::parse(&base).with_context(|| format!("--from {from:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--from {from:?}: give an http or https URL");
    }
    let store = args.store.open()?;
    store.bank(&into)?;
    let mut position = match store.exchange_position(&name)? {
        Some(p) => {
            if (p.source_url.as_str(), p.remote_bank.as_str(), p.local_bank.as_str())
                != (base.as_str(), bank.as_str(), into.as_str())
            {
                bail!(
                    "exchange {name:?} follows {} bank {} into {}: use another name for another source or bank",
                    p.source_url,
                    p.remote_bank,
                    p.local_bank
                );
            }
            p
        }
        None => Position {
            name: name.clone(),
            source_url: base.clone(),
            remote_bank: bank.clone(),
            local_bank: into.clone(),
            position: 0,
            updated_at: 0,
        },
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(timeout))
        .user_agent(concat!("spoor/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let (mut added, mut changed, mut unchanged, mut conflicts) = (0u64, 0u64, 0u64, 0u64);
    let started = position.position;
    loop {
        let mut url = parsed.clone();
        url.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("--from {from:?} cannot take a path"))?
            .pop_if_empty()
            .extend(["v1", "banks", bank.as_str(), "changes"]);
        url.query_pairs_mut()
            .append_pair("after", &position.position.to_string())
            .append_pair("limit", &page.to_string());
        let resp = client.get(url).bearer_auth(key).send().with_context(|| {
            format!("cannot reach {base}: the position is kept; pull again later")
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(body);
            bail!("{base} answered {status}: {message}");
        }
        let p: Page = resp
            .json()
            .with_context(|| format!("{base} sent something that is not a page of changes"))?;
        if p.changes.is_empty() {
            break;
        }
        let done = apply(&*store, &name, &into, &p.changes)?;
        for c in &done.conflicts {
            eprintln!("spoor: exchange {name}: conflict: {c}");
        }
        added += done.added;
        changed += done.changed;
        unchanged += done.unchanged;
        conflicts += done.conflicts.len() as u64;
        position.position = p.next_after;
        position.updated_at = spoor_bank::model::now_ms();
        store.set_exchange_position(&position)?;
        eprintln!(
            "spoor: exchange {name}: applied up to {} of {} ({} added, {} changed, {} conflicts so far)",
            p.next_after, p.last_seq, added, changed, conflicts
        );
    }
    if position.updated_at == 0 {
        position.updated_at = spoor_bank::model::now_ms();
        store.set_exchange_position(&position)?;
    }
    let summary = serde_json::json!({
        "exchange": name,
        "from": base,
        "bank": bank,
        "into": into,
        "from_position": started,
        "position": position.position,
        "added": added,
        "changed": changed,
        "unchanged": unchanged,
        "conflicts": conflicts,
    });
    writeln!(std::io::stdout(), "{summary}")?;
    Ok(ExitCode::SUCCESS)
}
