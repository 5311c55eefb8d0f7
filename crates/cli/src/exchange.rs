//! `spoor exchange`: follow another Spoor instance's bank into a local one.
//!
//! `add` sets up an exchange that `spoor serve` pulls every interval; `list` shows each with
//! its position, lag, last pull and conflicts; `conflicts` lists the source changes a local
//! decision kept out; `remove` ends one (what it added stays). `pull` runs one exchange once
//! from the command line: set up (by name alone) or given in full. Both run
//! `spoor_server::exchange::pull`: page by page from the saved position, so a pull stopped
//! anywhere loses and repeats nothing.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use spoor_bank::exchange::{ExchangeKey, NewExchange, Run};
use spoor_bank::model::now_ms;
use spoor_server::exchange::{pull, Source};

use crate::bank::StoreArgs;

/// `spoor exchange`.
#[derive(Args, Debug)]
pub struct ExchangeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting [default: cli:$USER].
    #[arg(long, env = "SPOOR_ACTOR", global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: ExchangeCommand,
}

/// The source of an exchange.
#[derive(Args, Debug)]
struct SourceArgs {
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
    /// --banks BANK` there). Without it, the key is read from SPOOR_EXCHANGE_KEY.
    #[arg(long, env = "SPOOR_EXCHANGE_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Changes read per request (1–10000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page: u32,
}

#[derive(Subcommand, Debug)]
enum ExchangeCommand {
    /// Set up an exchange that `spoor serve` pulls every interval.
    Add {
        /// The exchange's name (letters, digits, `.`, `-`, `_`): the `source_org` of the
        /// entries it adds.
        name: String,
        #[command(flatten)]
        source: SourceArgs,
        /// Time between pulls (such as 60s, 5m; at least 100ms).
        #[arg(long, default_value = "60s", value_parser = crate::serve::parse_duration)]
        interval: Duration,
    },
    /// Show every exchange: source, position, lag, last pull, conflicts (one JSON line each
    /// with --json).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List the source changes a local decision kept out of an exchange, newest first.
    Conflicts {
        /// The exchange.
        name: String,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// End an exchange (what it added stays in the local bank).
    Remove {
        /// The exchange.
        name: String,
    },
    /// Pull once: an exchange set up with `add` (by name alone), or one given in full.
    Pull {
        /// The exchange's name.
        name: String,
        #[command(flatten)]
        source: Option<SourceArgs>,
        /// Longest one request may take (seconds).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

fn read_key(path: Option<&PathBuf>) -> anyhow::Result<String> {
    let (key, whence) = match path {
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the exchange key from {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            std::env::var("SPOOR_EXCHANGE_KEY").map_err(|_| {
                anyhow::anyhow!("no exchange key: give --key-file FILE (or set SPOOR_EXCHANGE_KEY)")
            })?,
            "SPOOR_EXCHANGE_KEY".to_string(),
        ),
    };
    let key = key.trim().to_string();
    if !key.starts_with("spoor_") {
        bail!("{whence}: this is not a Spoor key (spoor_…)");
    }
    Ok(key)
}

fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_string(), spoor_bank::model::format_time)
}

/// Runs `spoor exchange`.
pub fn run(args: ExchangeArgs) -> anyhow::Result<ExitCode> {
    let actor = args.actor.clone().unwrap_or_else(crate::bank::default_actor);
    let store = args.store.open()?;
    let mut out = std::io::stdout().lock();
    match args.command {
        ExchangeCommand::Add { name, source, interval } => {
            let x = NewExchange {
                name,
                source_url: source.from.trim_end_matches('/').to_string(),
                remote_bank: source.bank,
                local_bank: source.into,
                key: ExchangeKey(read_key(source.key_file.as_ref())?),
                interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
                page: source.page,
            };
            let x = store.create_exchange(&x, &actor)?;
            eprintln!(
                "spoor: exchange {} follows {} bank {} into {} every {:?}; `spoor serve` pulls it",
                x.name, x.source_url, x.remote_bank, x.local_bank, interval
            );
            writeln!(out, "{}", serde_json::to_string(&x)?)?;
        }
        ExchangeCommand::List { json } => {
            let all = store.exchanges()?;
            if json {
                for x in &all {
                    let mut v = serde_json::to_value(x)?;
                    v["lag"] = x.lag().into();
                    writeln!(out, "{v}")?;
                }
            } else if all.is_empty() {
                eprintln!("spoor: no exchanges; set one up with `spoor exchange add`");
            } else {
                for x in &all {
                    writeln!(
                        out,
                        "{}\n  from {} bank {} into {} every {} ms\n  position {} of {} (lag {}), \
                         {} added, {} changed, {} conflicts\n  last pull {}, last success {}{}",
                        x.name,
                        x.source_url,
                        x.remote_bank,
                        x.local_bank,
                        x.interval_ms,
                        x.position,
                        x.remote_last_seq.map_or_else(|| "?".into(), |s| s.to_string()),
                        x.lag(),
                        x.added,
                        x.changed,
                        x.conflicts,
                        when(x.last_attempt_at),
                        when(x.last_success_at),
                        x.last_error.as_deref().map_or_else(String::new, |e| format!(
                            "\n  failing ({} in a row): {e}",
                            x.failures
                        )),
                    )?;
                }
            }
        }
        ExchangeCommand::Conflicts { name, limit } => {
            store.exchange(&name)?;
            for c in store.exchange_conflicts(&name, 0, limit.clamp(1, 10_000))? {
                writeln!(out, "{}", serde_json::to_string(&c)?)?;
            }
        }
        ExchangeCommand::Remove { name } => {
            store.delete_exchange(&name, &actor)?;
            eprintln!("spoor: exchange {name} removed; what it added stays in its bank");
        }
        ExchangeCommand::Pull { name, source, timeout } => {
            return pull_once(&*store, name, source, timeout, &mut out);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pull_once(
    store: &dyn spoor_bank::Store,
    name: String,
    source: Option<SourceArgs>,
    timeout: u64,
    out: &mut impl std::io::Write,
) -> anyhow::Result<ExitCode> {
    spoor_bank::exchange::check_name(&name)?;
    let set_up = match store.exchange(&name) {
        Ok(x) => Some(x),
        Err(spoor_bank::BankError::NoSuchExchange(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let src = match (&set_up, source) {
        (Some(x), None) => Source::from(x),
        (Some(_), Some(_)) => bail!(
            "exchange {name:?} is set up (`spoor exchange list`): pull it by name alone, or use \
             another name for another source"
        ),
        (None, Some(s)) => Source {
            name: name.clone(),
            url: s.from.trim_end_matches('/').to_string(),
            remote_bank: s.bank,
            local_bank: s.into,
            key: read_key(s.key_file.as_ref())?,
            page: s.page,
        },
        (None, None) => bail!(
            "no exchange named {name:?} is set up: give --from, --bank, --into and --key-file, \
             or set it up with `spoor exchange add`"
        ),
    };
    // A set-up exchange is pulled by one process at a time: the service waits its turn.
    let holder = format!("cli-{}", std::process::id());
    let lease = |until: i64| store.lease_exchange(&name, &holder, now_ms(), until);
    if set_up.is_some() && !lease(now_ms() + 600_000)? {
        bail!("exchange {name:?} is being pulled by a service right now: try again in a moment");
    }
    let client = spoor_server::delivery::client(Duration::from_secs(timeout), None)?;
    let at = now_ms();
    let stop = AtomicBool::new(false);
    let pulled = pull(store, &client, &src, &stop, &mut |p| {
        eprintln!(
            "spoor: exchange {name}: applied up to {} of {} ({} added, {} changed, {} conflicts \
             so far)",
            p.position,
            p.remote_last_seq.unwrap_or(p.position),
            p.added,
            p.changed,
            p.conflicts.len()
        );
        if set_up.is_some() {
            lease(now_ms() + 600_000)?;
        }
        Ok(())
    });
    for c in &pulled.conflicts {
        eprintln!("spoor: exchange {name}: conflict: {c}");
    }
    if set_up.is_some() {
        store.exchange_ran(
            &name,
            &Run {
                at,
                error: pulled.error.as_ref().map(|e| format!("{e:#}")),
                remote_last_seq: pulled.remote_last_seq,
                ..Default::default()
            },
        )?;
        lease(0)?;
    }
    if let Some(e) = pulled.error {
        return Err(e.context(format!(
            "exchange {name}: stopped at {} (what came before is applied and kept); pull again \
             later",
            pulled.position
        )));
    }
    let summary = serde_json::json!({
        "exchange": name,
        "from": src.url,
        "bank": src.remote_bank,
        "into": src.local_bank,
        "from_position": pulled.from_position,
        "position": pulled.position,
        "added": pulled.added,
        "changed": pulled.changed,
        "unchanged": pulled.unchanged,
        "conflicts": pulled.conflicts.len(),
    });
    writeln!(out, "{summary}")?;
    Ok(ExitCode::SUCCESS)
}
