//! `spoor bank`: create, list, import, export and curate hash banks in the local store.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use spoor_bank::export::{ExportFormat, Exporter};
use spoor_bank::import::{self, Format, ImportOptions, ImportReport, Reader};
use spoor_bank::{Location, NewBank, Store};
use spoor_core::SignalType;

/// Where the banks are: the embedded SQLite store or a PostgreSQL server.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store (created when missing).
    #[arg(long, env = "SPOOR_DATA_DIR", default_value = "./spoor-data", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL store instead, `postgres://user:password@host:port/database` (wins over
    /// --data-dir).
    #[arg(long, env = "SPOOR_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The location these flags name.
    pub fn location(&self) -> Location {
        match &self.database_url {
            Some(url) => Location::Postgres(url.clone()),
            None => Location::DataDir(self.data_dir.clone()),
        }
    }

    /// Opens the store.
    pub fn open(&self) -> anyhow::Result<Box<dyn Store>> {
        let location = self.location();
        spoor_bank::open(&location).with_context(|| match &location {
            Location::DataDir(d) => format!("cannot open the store in {}", d.display()),
            Location::Postgres(_) => "cannot open the PostgreSQL store".to_string(),
        })
    }
}

/// Arguments of `spoor bank`.
#[derive(Args, Debug)]
pub struct BankArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting, as recorded in the change log [default: cli:$USER].
    #[arg(long, env = "SPOOR_ACTOR", global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: BankCommand,
}

#[derive(Subcommand, Debug)]
enum BankCommand {
    /// Create a bank.
    Create {
        /// Name: A-Z, 0-9 and _.
        name: String,
        /// What the list is.
        #[arg(long, default_value = "")]
        description: String,
        /// The organisation that vouches for it.
        #[arg(long, default_value = "")]
        owner: String,
        /// Matches from this bank need human review before action.
        #[arg(long)]
        review_required: bool,
        /// Largest PDQ distance that matches (default 31, at most 64).
        #[arg(long)]
        pdq_radius: Option<u32>,
        /// Cases matching verified entries exactly or by PDQ within this distance are confirmed
        /// without review (default 10; -1: every case goes to review).
        #[arg(long, allow_hyphen_values = true)]
        auto_confirm_distance: Option<i32>,
        /// Confirmations need two reviewers who agree.
        #[arg(long)]
        four_eyes: bool,
        /// The review queue of cases whose nearest match needing review is in this bank
        /// (default main; a-z, 0-9, '_' and '-'; not senior).
        #[arg(long)]
        review_queue: Option<String>,
        /// The share of lookups on HMA's routes that consult this bank (HMA's
        /// matching_enabled_ratio): greater than 0, at most 1 (default 1).
        #[arg(long)]
        hma_enabled_ratio: Option<f64>,
    },
    /// Change a bank's settings, with a reason (one change-log record).
    #[command(visible_alias = "set")]
    Configure {
        /// The bank.
        name: String,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New owner organisation.
        #[arg(long)]
        owner: Option<String>,
        /// Whether matches need human review before action.
        #[arg(long)]
        review_required: Option<bool>,
        /// Largest PDQ distance that matches (at most 64).
        #[arg(long)]
        pdq_radius: Option<u32>,
        /// Auto-confirm distance (0-31; -1: every case goes to review).
        #[arg(long, allow_hyphen_values = true)]
        auto_confirm_distance: Option<i32>,
        /// Whether confirmations need two reviewers.
        #[arg(long)]
        four_eyes: Option<bool>,
        /// New review queue (a-z, 0-9, '_' and '-'; not senior).
        #[arg(long)]
        review_queue: Option<String>,
        /// New share of lookups on HMA's routes that consult this bank (greater than 0, at
        /// most 1).
        #[arg(long)]
        hma_enabled_ratio: Option<f64>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List the banks.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Counts by signal type, category and state.
    Stats {
        /// The bank.
        name: String,
    },
    /// Import a hash list: lines, csv, jsonl or hma-csv (detected from the first line).
    ///
    /// Idempotent: a signal the bank holds already is counted, not added again. Entries are
    /// committed in batches; each "committed" report on standard error is durable. Bad lines
    /// are reported with their line number and skipped (exit status 2), or with --strict abort
    /// the whole import and leave the bank unchanged.
    Import {
        /// The bank.
        name: String,
        /// The file, or `-` for standard input.
        file: PathBuf,
        /// The format, instead of detecting it.
        #[arg(long, value_parser = parse_format)]
        format: Option<Format>,
        /// Signal type of values that do not name one (lines format).
        #[arg(long, default_value = "pdq", value_parser = parse_signal_type)]
        signal_type: SignalType,
        /// Abort on the first bad line; nothing is imported then.
        #[arg(long)]
        strict: bool,
        /// Entries per committed batch.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Export a bank to standard output.
    Export {
        /// The bank.
        name: String,
        /// jsonl (everything), csv, or lines (enabled values of --signal-type only).
        #[arg(long, default_value = "jsonl", value_parser = parse_export_format)]
        format: ExportFormat,
        /// Only entries changed after this change-log sequence number.
        #[arg(long, value_name = "SEQ")]
        since: Option<i64>,
        /// Signal type written by the lines format.
        #[arg(long, default_value = "pdq", value_parser = parse_signal_type)]
        signal_type: SignalType,
    },
    /// Stop an entry from matching, with a reason (one change-log record).
    Disable {
        /// The bank.
        name: String,
        /// The entry's id (from export or the API).
        entry_id: i64,
        /// Why: recorded in the change log and on the entry.
        #[arg(long)]
        reason: String,
    },
    /// Let a disabled entry match again, with a reason.
    Enable {
        /// The bank.
        name: String,
        /// The entry's id.
        entry_id: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Reclassify an entry or correct its provenance, with a reason (one change-log record).
    Update {
        /// The bank.
        name: String,
        /// The entry's id.
        entry_id: i64,
        /// baseline, national, not_illegal, or none to clear.
        #[arg(long)]
        category: Option<String>,
        /// A, B, C, or none to clear.
        #[arg(long)]
        severity: Option<String>,
        /// Replace the tags (comma-separated; empty to clear).
        #[arg(long)]
        tags: Option<String>,
        /// Source organisation (empty to clear).
        #[arg(long)]
        source_org: Option<String>,
        /// The source's own id (empty to clear).
        #[arg(long)]
        source_id: Option<String>,
        /// Who verified the classification (empty to clear); the time is recorded as now.
        #[arg(long)]
        verified_by: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Delete an entry for good, with a reason.
    Delete {
        /// The bank.
        name: String,
        /// The entry's id.
        entry_id: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Stop a whole bank from matching at once, with a reason.
    Pause {
        /// The bank.
        name: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Let a paused bank match again.
    Resume {
        /// The bank.
        name: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// The change log of a bank, as JSON lines, oldest first: each record names the entry's
    /// signal type, value and state (enabled, category, severity) as of that change.
    Log {
        /// The bank.
        name: String,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        since: i64,
        /// At most this many records.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}
fn parse_export_format(s: &str) -> Result<ExportFormat, String> {
    s.parse()
}
fn parse_signal_type(s: &str) -> Result<SignalType, String> {
    s.parse().map_err(|e: spoor_core::SignalError| e.to_string())
}

/// The actor recorded for command-line changes when `--actor` is not given: `cli:$USER`.
pub(crate) fn default_actor() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("cli:{u}"),
        _ => "cli".to_string(),
    }
}

/// Writes to stdout, treating a closed pipe (`| head`) as the end, not an error.
fn stdout_ok(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

/// Runs `spoor bank …`.
pub fn run(args: BankArgs) -> anyhow::Result<ExitCode> {
    let actor = args.actor.clone().unwrap_or_else(default_actor);
    let store = args.store.open()?;
    let store = &*store;
    let out = std::io::stdout();
    let mut out = out.lock();
    let enable = matches!(args.command, BankCommand::Enable { .. } | BankCommand::Resume { .. });
    match args.command {
        BankCommand::Create {
            name,
            description,
            owner,
            review_required,
            pdq_radius,
            auto_confirm_distance,
            four_eyes,
            review_queue,
            hma_enabled_ratio,
        } => {
            let bank = store.create_bank(
                &NewBank {
                    name,
                    description,
                    owner,
                    review_required,
                    pdq_radius,
                    auto_confirm_distance,
                    four_eyes,
                    review_queue,
                    hma_enabled_ratio,
                },
                &actor,
            )?;
            stdout_ok(writeln!(out, "{}", serde_json::to_string(&bank)?))?;
        }
        BankCommand::Configure {
            name,
            description,
            owner,
            review_required,
            pdq_radius,
            auto_confirm_distance,
            four_eyes,
            review_queue,
            hma_enabled_ratio,
            reason,
        } => {
            let settings = spoor_bank::BankSettings {
                description,
                owner,
                review_required,
                pdq_radius,
                auto_confirm_distance,
                four_eyes,
                review_queue,
                hma_enabled_ratio,
            };
            let bank = store.configure_bank(&name, &settings, &actor, &reason)?;
            stdout_ok(writeln!(out, "{}", serde_json::to_string(&bank)?))?;
        }
        BankCommand::List { json } => {
            let banks = store.banks()?;
            if json {
                for b in &banks {
                    stdout_ok(writeln!(out, "{}", serde_json::to_string(b)?))?;
                }
            } else {
                stdout_ok(writeln!(
                    out,
                    "{:<24} {:>9} {:>7} {:<8} DESCRIPTION",
                    "NAME", "ENABLED", "REVIEW", "RADIUS"
                ))?;
                for b in &banks {
                    stdout_ok(writeln!(
                        out,
                        "{:<24} {:>9} {:>7} {:<8} {}",
                        b.name,
                        if b.enabled { "yes" } else { "PAUSED" },
                        if b.review_required { "yes" } else { "no" },
                        b.pdq_radius,
                        b.description
                    ))?;
                }
            }
        }
        BankCommand::Stats { name } => {
            let stats = store.stats(&name)?;
            stdout_ok(writeln!(out, "{}", serde_json::to_string_pretty(&stats)?))?;
        }
        BankCommand::Import { name, file, format, signal_type, strict, batch } => {
            drop(out);
            return import_file(
                store,
                &name,
                &file,
                format,
                signal_type,
                strict,
                batch as usize,
                &actor,
            );
        }
        BankCommand::Export { name, format, since, signal_type } => {
            store.bank(&name)?;
            // Audited before anything is written: an export never happens unrecorded.
            let details = serde_json::json!({"format": format.name(), "since": since});
            store.audit_append(
                &spoor_audit::NewRecord::by(&actor, "bank_export", "bank", &name)
                    .with_details(details),
            )?;
            let mut ex = Exporter::new(
                std::io::BufWriter::with_capacity(1 << 16, out),
                format,
                signal_type,
            )?;
            let result = store.export(&name, since, &mut |e| ex.write(e));
            match result {
                Err(spoor_bank::BankError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => {
                    let n = other?;
                    stdout_ok(ex.finish().map(drop))?;
                    eprintln!("spoor: exported {n} entries of {name}");
                }
            }
        }
        BankCommand::Disable { name, entry_id, reason }
        | BankCommand::Enable { name, entry_id, reason } => {
            match store.set_enabled(&name, entry_id, enable, &actor, &reason)? {
                Some(change) => stdout_ok(writeln!(out, "{}", serde_json::to_string(&change)?))?,
                None => eprintln!(
                    "spoor: entry {entry_id} of {name} is {} already: nothing recorded",
                    if enable { "enabled" } else { "disabled" }
                ),
            }
        }
        BankCommand::Update {
            name,
            entry_id,
            category,
            severity,
            tags,
            source_org,
            source_id,
            verified_by,
            reason,
        } => {
            let clearable = |s: Option<String>| s.map(|s| Some(s).filter(|s| !s.trim().is_empty()));
            let none_or = |s: &str| !s.eq_ignore_ascii_case("none") && !s.is_empty();
            let update = spoor_bank::EntryUpdate {
                category: category
                    .map(|c| if none_or(&c) { c.parse().map(Some) } else { Ok(None) })
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                severity: severity
                    .map(|c| if none_or(&c) { c.parse().map(Some) } else { Ok(None) })
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                tags: tags
                    .map(|t| spoor_bank::model::parse_tags(&t))
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                source_org: clearable(source_org),
                source_id: clearable(source_id),
                verified_by: clearable(verified_by),
            };
            let (entry, change) = store.update_entry(&name, entry_id, &update, &actor, &reason)?;
            match change {
                Some(change) => stdout_ok(writeln!(out, "{}", serde_json::to_string(&change)?))?,
                None => eprintln!(
                    "spoor: entry {} of {name} is like that already: nothing recorded",
                    entry.id
                ),
            }
        }
        BankCommand::Delete { name, entry_id, reason } => {
            let change = store.delete_entry(&name, entry_id, &actor, &reason)?;
            stdout_ok(writeln!(out, "{}", serde_json::to_string(&change)?))?;
        }
        BankCommand::Pause { name, reason } | BankCommand::Resume { name, reason } => {
            let bank = store.set_bank_enabled(&name, enable, &actor, &reason)?;
            stdout_ok(writeln!(out, "{}", serde_json::to_string(&bank)?))?;
        }
        BankCommand::Log { name, since, limit } => {
            store.bank(&name)?;
            let details = serde_json::json!({"since": since, "limit": limit});
            store.audit_append(
                &spoor_audit::NewRecord::by(&actor, "changes_read", "bank", &name)
                    .with_details(details),
            )?;
            for c in store.log(Some(&name), since, limit)? {
                stdout_ok(writeln!(out, "{}", serde_json::to_string(&c)?))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn import_file(
    store: &dyn Store,
    bank: &str,
    file: &std::path::Path,
    format: Option<Format>,
    signal_type: SignalType,
    strict: bool,
    batch: usize,
    actor: &str,
) -> anyhow::Result<ExitCode> {
    // Fail on a missing bank before reading anything.
    store.bank(bank)?;
    let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 18, std::io::stdin().lock()))
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        Box::new(BufReader::with_capacity(1 << 18, f))
    };
    let name =
        if file.as_os_str() == "-" { "<stdin>".to_string() } else { file.display().to_string() };
    let mut reader =
        Reader::new(input, format, signal_type).with_context(|| format!("cannot import {name}"))?;
    let opts = ImportOptions { strict, batch_size: batch, actor: actor.to_string() };
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last = Instant::now() - Duration::from_secs(10);
    let mut shown = 0u64;
    let mut on_rejected = |line: u64, why: &str| {
        if shown < 10_000 {
            eprintln!("spoor: {name}:{line}: rejected: {why}");
        } else if shown == 10_000 {
            eprintln!("spoor: more rejected lines: only the first 10000 are shown");
        }
        shown += 1;
    };
    let mut on_commit = |r: &ImportReport| {
        if strict {
            return;
        }
        if last.elapsed() >= Duration::from_millis(if tty { 100 } else { 1000 }) {
            last = Instant::now();
            let msg = format!(
                "committed through line {}: {} added, {} already present, {} rejected",
                r.lines, r.added, r.already_present, r.rejected
            );
            if tty {
                eprint!("\rspoor: {msg}");
            } else {
                eprintln!("spoor: {msg}");
            }
        }
    };
    let result = import::import(store, bank, &mut reader, &opts, &mut on_rejected, &mut on_commit);
    if tty {
        eprintln!();
    }
    let report = result.with_context(|| format!("import of {name} into {bank} failed"))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "spoor: imported {name} into {bank} ({}): {} lines, {} added, {} already present, {} rejected, {:.2} s",
        reader.format().name(),
        report.lines,
        report.added,
        report.already_present,
        report.rejected,
        secs
    );
    let summary = serde_json::json!({
        "bank": bank,
        "lines": report.lines,
        "added": report.added,
        "already_present": report.already_present,
        "rejected": report.rejected,
        "seconds": (secs * 1000.0).round() / 1000.0,
    });
    stdout_ok(writeln!(std::io::stdout(), "{summary}"))?;
    Ok(if report.rejected > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
