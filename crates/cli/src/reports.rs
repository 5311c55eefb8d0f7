//! `spoor reports`: reports of confirmed cases as files, for services that upload them by hand.
//!
//! `spoor reports export --format ncmec|eu --reports FILE --out DIR [--since TIME]` writes, per
//! report to that receiver: `report-<id>.xml` and one `file-<id>-<n>.xml` per file (NCMEC's
//! `<report>` and `<fileDetails>`), or `report-<id>.json` (the EU Centre's document). The
//! reporter and provider come from the reports file (as `spoor serve --reports` reads it). Files
//! carry hashes and facts, never content. A file details document names the NCMEC report id the
//! report got when it was opened, or `0` when it was not: replace it with the id NCMEC gives the
//! report when it is uploaded. Every export is one audit record (`reports_export`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use spoor_bank::reports::ReportQuery;

use crate::bank::StoreArgs;

/// `spoor reports`.
#[derive(Args, Debug)]
pub struct ReportsArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: ReportsCommand,
}

#[derive(Subcommand, Debug)]
enum ReportsCommand {
    /// Write reports to one receiver as files: NCMEC XML or EU Centre JSON.
    Export {
        /// `ncmec` (report and file details XML) or `eu` (the EU Centre's JSON document).
        #[arg(long, value_enum)]
        format: Format,
        /// The reports file (`spoor serve --reports`): the reporter and the provider.
        #[arg(long, value_name = "PATH")]
        reports: PathBuf,
        /// The folder written to (created when missing; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only reports made at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Who exports, for the audit log (default `cli:$USER`).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Ncmec,
    Eu,
}

/// Runs `spoor reports`.
pub fn run(args: ReportsArgs) -> anyhow::Result<ExitCode> {
    let ReportsCommand::Export { format, reports, out, since, actor } = args.command;
    let since = since
        .as_deref()
        .map(spoor_bank::model::parse_time)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let (_, cfg) = spoor_server::delivery::load(&reports, spoor_report::ncmec::Environment::Test)?;
    let recipient = match format {
        Format::Ncmec if cfg.ncmec.is_none() => {
            bail!(
                "the reports file {} has no [ncmec] section: its reporter is needed",
                reports.display()
            )
        }
        Format::Eu if cfg.eu.is_none() => {
            bail!(
                "the reports file {} has no [eu_centre] section: its provider is needed",
                reports.display()
            )
        }
        Format::Ncmec => "ncmec",
        Format::Eu => "eu_centre",
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot make {}", out.display()))?;
    let store = args.store.open()?;
    let actor = actor.unwrap_or_else(crate::bank::default_actor);
    let now = spoor_bank::model::now_ms();
    let (mut after, mut reports_written, mut files_written) = (0, 0u64, 0u64);
    loop {
        let page = store.reports(&ReportQuery {
            recipient: Some(recipient.into()),
            after,
            limit: 500,
            ..Default::default()
        })?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in page.into_iter().filter(|r| since.is_none_or(|t| r.created_at >= t)) {
            let (facts, _) = spoor_server::delivery::report_facts(&*store, None, &r)
                .with_context(|| format!("report {}", r.id))?;
            match format {
                Format::Ncmec => {
                    let n = cfg.ncmec.as_ref().expect("checked above");
                    let xml = spoor_report::ncmec::report_xml(&facts, &n.reporter, now)
                        .with_context(|| format!("report {}", r.id))?;
                    write_new(&out.join(format!("report-{}.xml", r.id)), &xml)?;
                    let remote = r.remote_id.clone().unwrap_or_else(|| "0".into());
                    for (i, file) in facts.files.iter().enumerate() {
                        let details = spoor_report::ncmec::file_details_xml(
                            &remote,
                            &format!("file-{}", i + 1),
                            file,
                        )
                        .with_context(|| format!("report {}, file {}", r.id, i + 1))?;
                        write_new(&out.join(format!("file-{}-{}.xml", r.id, i + 1)), &details)?;
                        files_written += 1;
                    }
                }
                Format::Eu => {
                    let e = cfg.eu.as_ref().expect("checked above");
                    let doc = spoor_report::eu::document(&facts, &e.provider, now);
                    let text = serde_json::to_string_pretty(&doc)?;
                    write_new(&out.join(format!("report-{}.json", r.id)), &text)?;
                }
            }
            reports_written += 1;
        }
    }
    let record = spoor_audit::NewRecord::by(&actor, "reports_export", "reports", recipient)
        .with_details(serde_json::json!({
            "reports": reports_written,
            "files": files_written,
            "since": since.map(spoor_bank::model::format_time),
        }));
    store.audit_append(&record)?;
    eprintln!(
        "spoor: wrote {reports_written} {recipient} reports ({files_written} file details) to {}",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a new file (never over an existing one).
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).with_context(|| {
            format!("cannot create {} (existing files are not overwritten)", path.display())
        })?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
