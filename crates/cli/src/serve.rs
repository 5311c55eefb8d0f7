//! `spoor serve` (the matching service) and `spoor keys` (its API keys).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use spoor_bank::Role;

use crate::bank::StoreArgs;
use crate::hash::parse_size;

/// Arguments of `spoor serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "SPOOR_LISTEN", default_value = "127.0.0.1:5100")]
    listen: SocketAddr,
    /// Largest JSON request body (e.g. 64MiB).
    #[arg(long, env = "SPOOR_MAX_BODY", default_value = "64MiB", value_parser = parse_size)]
    max_body: u64,
    /// Largest upload to hash (e.g. 64MiB).
    #[arg(long, env = "SPOOR_MAX_UPLOAD", default_value = "64MiB", value_parser = parse_size)]
    max_upload: u64,
    /// Largest image to decode, in pixels (checked from the header).
    #[arg(long, env = "SPOOR_MAX_PIXELS", default_value_t = spoor_media::Limits::default().max_pixels)]
    max_pixels: u64,
    /// Requests a second each API key may make (0: no limit).
    #[arg(long, env = "SPOOR_RATE_LIMIT", default_value_t = 0)]
    rate_limit: u32,
    /// How often to poll the change log, in milliseconds.
    #[arg(long, env = "SPOOR_FOLLOW_INTERVAL_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    follow_interval_ms: u64,
    /// Log format.
    #[arg(long, env = "SPOOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Runs `spoor serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPOOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let config = spoor_server::Config {
        listen: args.listen,
        max_body_bytes: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_upload_bytes: usize::try_from(args.max_upload).unwrap_or(usize::MAX),
        max_pixels: args.max_pixels,
        rate_limit: args.rate_limit,
        follow_interval: Duration::from_millis(args.follow_interval_ms),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(spoor_server::serve(args.store.location(), config))?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `spoor keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting [default: cli:$USER].
    #[arg(long, env = "SPOOR_ACTOR", global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Make a key. Its record goes to standard error; the key itself is the last line of
    /// standard output, shown this once (only its hash is stored).
    Create {
        /// admin, curator, matcher or hasher.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Unique name, recorded as the actor of the key's changes.
        #[arg(long)]
        name: String,
        /// Banks a matcher key may match against (comma-separated; default all).
        #[arg(long, value_delimiter = ',')]
        banks: Option<Vec<String>>,
    },
    /// List the keys (never their secrets), as JSON lines.
    List,
    /// Revoke a key: it stops working within a second on every running service.
    Revoke {
        /// The key's name.
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// Runs `spoor keys`.
pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let actor = args.actor.clone().unwrap_or_else(|| match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("cli:{u}"),
        _ => "cli".into(),
    });
    let store = args.store.open()?;
    let mut out = std::io::stdout().lock();
    match args.command {
        KeysCommand::Create { role, name, banks } => {
            if banks.is_some() && role != Role::Matcher {
                anyhow::bail!("--banks limits what a matcher key may match: it applies to --role matcher only");
            }
            if let Some(b) = &banks {
                for bank in b {
                    store.bank(bank)?;
                }
            }
            let key = spoor_server::auth::generate(&name, role, banks, &actor)
                .context("cannot read random bytes from the operating system")?;
            store.create_key(&key.record, &key.secret_hash)?;
            eprintln!(
                "spoor: created {} key {:?} ({}); store it now, it is not shown again:",
                role.name(),
                name,
                key.record.key_id
            );
            writeln!(out, "{}", key.key)?;
        }
        KeysCommand::List => {
            for (k, _) in store.keys()? {
                writeln!(out, "{}", serde_json::to_string(&k)?)?;
            }
        }
        KeysCommand::Revoke { name } => {
            let k = store.revoke_key(&name, &actor)?;
            writeln!(out, "{}", serde_json::to_string(&k)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
