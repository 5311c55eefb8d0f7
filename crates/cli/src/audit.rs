//! `spoor audit`: read, export and verify the deployment's hash-chained audit log, and sign
//! checkpoints of its head.
//!
//! Exit codes of `verify`: 0 intact, 1 the log does not fit together (the first record that
//! does not fit is named), 2 the check could not be made.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use spoor_audit::{Checkpoint, ExportedRecord, NewRecord, Verifier};
use spoor_bank::audit::{verify, MAX_AUDIT_PAGE};
use spoor_bank::{AuditQuery, Store};

use crate::bank::StoreArgs;

/// Arguments of `spoor audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting, as recorded in the audit log [default: cli:$USER].
    #[arg(long, env = "SPOOR_ACTOR", global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Show audit records as JSON lines, oldest first, with filters.
    Log {
        /// Only records numbered above this.
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        after: i64,
        /// At most this many records (1 to 10000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only this actor (a person's or key's name).
        #[arg(long)]
        actor_name: Option<String>,
        /// Only this action (e.g. login, entry_disable, key_create).
        #[arg(long)]
        action: Option<String>,
        /// Only objects of this kind (bank, entry, key, user…).
        #[arg(long)]
        object_kind: Option<String>,
        /// Only this object (its name or id).
        #[arg(long)]
        object_id: Option<String>,
        /// Only records at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        since: Option<i64>,
        /// Only records before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        until: Option<i64>,
    },
    /// Write every record after SEQ as JSON lines (the export is itself audited). An export
    /// can be checked on its own with `spoor audit verify --file`.
    Export {
        /// Only records numbered above this.
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        since: i64,
        /// Write here instead of standard output (refuses to overwrite).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Recompute the whole chain and check every checkpoint: prints "intact" and exits 0, or
    /// names the first record that does not fit and exits 1.
    Verify {
        /// A checkpoint file kept outside the store (repeatable); a log cut or rewritten
        /// before it no longer matches it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
        /// Accept only checkpoints signed by this key (a PEM file from `keygen`, or 64 hex
        /// digits).
        #[arg(long, value_name = "FILE|HEX")]
        public_key: Option<String>,
        /// Check an export file instead of the store.
        #[arg(long, value_name = "EXPORT")]
        file: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for checkpoints: FILE (private, mode 0600; keep it off the
    /// database server) and FILE.pub; prints the public key.
    Keygen {
        /// Where to write the private key (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign the log's current head with a key from `keygen`, store the checkpoint in the log,
    /// and write it as JSON (keep a copy elsewhere: it is what detects a cut tail).
    Checkpoint {
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
        /// Write here instead of standard output (refuses to overwrite).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_time(s: &str) -> Result<i64, String> {
    spoor_bank::model::parse_time(s)
}

/// Opens `path` for writing, refusing to replace a file (with `private`, readable by the owner
/// only).
fn create_new(path: &Path, private: bool) -> anyhow::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    o.open(path).with_context(|| {
        format!("cannot create {} (an existing file is never overwritten)", path.display())
    })
}

/// Runs `spoor audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let actor = args.actor.clone().unwrap_or_else(crate::bank::default_actor);
    match args.command {
        AuditCommand::Keygen { out } => keygen(&out),
        AuditCommand::Verify { checkpoint, public_key, file } => {
            verify_cmd(&args.store, &checkpoint, public_key.as_deref(), file.as_deref())
        }
        AuditCommand::Log {
            after,
            limit,
            actor_name,
            action,
            object_kind,
            object_id,
            since,
            until,
        } => {
            let store = args.store.open()?;
            let q = AuditQuery {
                after,
                before: None,
                newest_first: false,
                actor: actor_name,
                actor_kind: None,
                action,
                object_kind,
                object_id,
                since,
                until,
                limit,
            };
            let mut out = std::io::stdout().lock();
            for r in store.audit_records(&q)? {
                ok_pipe(writeln!(out, "{}", serde_json::to_string(&ExportedRecord::from(&r))?))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { since, out } => {
            let store = args.store.open()?;
            let sink: Box<dyn std::io::Write> = match &out {
                Some(p) => Box::new(create_new(p, false)?),
                None => Box::new(std::io::stdout().lock()),
            };
            export(&*store, &actor, since, sink)
        }
        AuditCommand::Checkpoint { key, out } => {
            let key = spoor_audit::read_key(&key)?;
            let store = args.store.open()?;
            let (seq, hash) = store
                .audit_head()?
                .context("the audit log is empty: there is nothing to checkpoint yet")?;
            let checkpoint = Checkpoint::sign(&key, seq, hash, spoor_bank::model::now_ms());
            // Open the output first, so a checkpoint is never stored without being written.
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(p) => Box::new(create_new(p, false)?),
                None => Box::new(std::io::stdout().lock()),
            };
            store.audit_add_checkpoint(&checkpoint, &actor)?;
            writeln!(sink, "{}", checkpoint.to_json())?;
            sink.flush()?;
            eprintln!(
                "spoor: signed the audit log at record {seq} ({}); keep a copy of this \
                 checkpoint outside the store",
                spoor_audit::hex(&hash)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Treats a closed pipe (`| head`) as the end.
fn ok_pipe(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the output"),
    }
}

fn export(
    store: &dyn Store,
    actor: &str,
    since: i64,
    sink: Box<dyn std::io::Write>,
) -> anyhow::Result<ExitCode> {
    // Audited before anything is written.
    let details = serde_json::json!({"since": since});
    store.audit_append(
        &NewRecord::by(actor, "audit_export", "audit", "log").with_details(details),
    )?;
    let mut sink = std::io::BufWriter::with_capacity(1 << 16, sink);
    let mut after = since;
    let mut n = 0u64;
    loop {
        let page = store.audit_records(&AuditQuery::after(after, MAX_AUDIT_PAGE))?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            serde_json::to_writer(&mut sink, &ExportedRecord::from(r))?;
            sink.write_all(b"\n")?;
            n += 1;
        }
    }
    ok_pipe(sink.flush())?;
    eprintln!("spoor: exported {n} audit records after {since}");
    Ok(ExitCode::SUCCESS)
}

fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    let key = spoor_audit::generate_key()?;
    let public = key.verifying_key();
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    let mut f = create_new(out, true)?;
    f.write_all(spoor_audit::key_to_pem(&key)?.as_bytes())?;
    f.sync_all()?;
    let mut p = create_new(&public_path, false)?;
    p.write_all(spoor_audit::public_key_to_pem(&public)?.as_bytes())?;
    eprintln!(
        "spoor: wrote the private key to {} and the public key to {}",
        out.display(),
        public_path.display()
    );
    println!("{}", spoor_audit::hex(public.as_bytes()));
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(
    store_args: &StoreArgs,
    checkpoint_files: &[PathBuf],
    public_key: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let trusted = public_key
        .map(|k| {
            let text = if Path::new(k).exists() {
                std::fs::read_to_string(k)
                    .with_context(|| format!("cannot read the public key file {k}"))?
            } else {
                k.to_string()
            };
            spoor_audit::read_public_key(&text).map_err(anyhow::Error::from)
        })
        .transpose()?;
    let mut checkpoints = Vec::new();
    for path in checkpoint_files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the checkpoint file {}", path.display()))?;
        let cp = Checkpoint::from_json(&text)
            .with_context(|| format!("in the checkpoint file {}", path.display()))?;
        checkpoints.push(cp);
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} audit records checked")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let (records, head, n_checkpoints, broken) = match file {
        Some(path) => verify_file(path, &checkpoints, trusted.as_ref(), &bar)?,
        None => {
            let store = store_args.open()?;
            let report =
                verify(&*store, &checkpoints, trusted.as_ref(), &mut |n| bar.set_position(n))?;
            (report.records, report.head, report.checkpoints, report.broken)
        }
    };
    bar.finish_and_clear();
    match broken {
        None => {
            let head = head.map_or_else(
                || "the log is empty".to_string(),
                |(s, h)| format!("head {s} ({})", spoor_audit::hex(&h)),
            );
            println!("intact: {records} records, {head}, {n_checkpoints} checkpoints checked");
            Ok(ExitCode::SUCCESS)
        }
        Some(b) => {
            println!("broken: {b} ({records} records before it fit)");
            Ok(ExitCode::from(1))
        }
    }
}

type FileReport = (u64, Option<(i64, spoor_audit::Digest)>, usize, Option<spoor_audit::Break>);

fn verify_file(
    path: &Path,
    checkpoints: &[Checkpoint],
    trusted: Option<&spoor_audit::VerifyingKey>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<FileReport> {
    use std::io::BufRead as _;
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut verifier: Option<Verifier> = None;
    for cp in checkpoints {
        cp.verify(trusted)?;
    }
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str::<ExportedRecord>(&line)
            .map_err(anyhow::Error::from)
            .and_then(|e| e.to_record().map_err(anyhow::Error::from))
            .with_context(|| {
                format!("line {} of {} is not an exported audit record", i + 1, path.display())
            })?;
        let v = verifier.get_or_insert_with(|| {
            // An export that starts after record 1 is checked from its first record's link,
            // which only a checkpoint (or the store) can vouch for.
            let mut v = Verifier::after(record.seq - 1, record.prev_hash);
            for cp in checkpoints {
                v.expect(cp);
            }
            v
        });
        if let Err(b) = v.push(&record) {
            return Ok((v.checked(), v.head(), checkpoints.len(), Some(b)));
        }
        if v.checked().is_multiple_of(65_536) {
            bar.set_position(v.checked());
        }
    }
    let v = verifier.unwrap_or_else(|| {
        let mut v = Verifier::new();
        for cp in checkpoints {
            v.expect(cp);
        }
        v
    });
    Ok((v.checked(), v.head(), checkpoints.len(), v.finish().err()))
}
