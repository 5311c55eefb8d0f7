//! `spoor reports`: reports of confirmed cases as files, for services that upload them by hand.
//!
//! `spoor reports export --format ncmec|eu --reports FILE --out DIR [--since TIME]` writes, per
//! report to that receiver: `report-<id>.xml` and one `file-<id>-<n>.xml` per file (NCMEC's
//! `<report>` and `<fileDetails>`), or `report-<id>.json` (the EU Centre's document). The
//! reporter and provider come from the reports file (as `spoor serve --reports` reads it). Files
//! carry hashes and facts, never content. A file details document names the NCMEC report id the
//! report got when it was opened, or `0` when it was not: replace it with the id NCMEC gives the
//! report when it is uploaded. Every export is one audit record (`reports_export`).
//!
//! `spoor reports annual [--year Y] [--format json|html] [--out FILE] [--deployment FILE]
//! [--retention FILE] [--eval FILE]` (also `spoor report annual`) writes the annual report of
//! Reg. 2021/1232 Art. 3(1)(g)(vii) for a calendar year (default: the last one) from the
//! records, the deployment file's `[annual]` statements, the retention policy and the latest
//! `spoor eval --jsonl` run; recorded as `annual_report`.

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
    /// The annual report (Reg. 2021/1232 Art. 3(1)(g)(vii)) of a calendar year, from the records.
    Annual(AnnualArgs),
}

/// `spoor reports annual`.
#[derive(Args, Debug)]
struct AnnualArgs {
    /// The calendar year [default: the last one].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1970..=9998))]
    year: Option<i32>,
    /// `json` (every figure, its definition, what is not recorded), `html` (a standalone
    /// document) or `pdf` (the HTML printed by headless Chromium: `--chromium`).
    #[arg(long, value_enum, default_value = "json")]
    format: AnnualFormat,
    /// Where to write it [default: standard output].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The deployment file: its `[annual]` section states the provider, the legal basis,
    /// the GDPR and transfer grounds, and measures, safeguards and organisations beyond
    /// Spoor's own.
    #[arg(long, env = "SPOOR_DEPLOYMENT", value_name = "PATH")]
    deployment: Option<PathBuf>,
    /// The retention file in force (as `spoor serve --retention`) [default: the legal
    /// maxima].
    #[arg(long, env = "SPOOR_RETENTION", value_name = "PATH")]
    retention: Option<PathBuf>,
    /// The latest `spoor eval --jsonl` run, quoted in item 7.
    #[arg(long, value_name = "FILE")]
    eval: Option<PathBuf>,
    /// The Chromium (or Chrome) that prints the PDF [default: `chromium`,
    /// `chromium-browser` or `google-chrome` on the PATH].
    #[arg(long, env = "SPOOR_CHROMIUM", value_name = "PATH")]
    chromium: Option<PathBuf>,
    /// Who generates it, for the audit log (default `cli:$USER`).
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AnnualFormat {
    Json,
    Html,
    Pdf,
}

/// The browser that prints PDFs.
fn find_chromium(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let c = dir.join(name);
            if c.is_file() {
                return Ok(c);
            }
        }
    }
    bail!(
        "--format pdf prints with headless Chromium, and none was found: install it (Debian: \
         apt install chromium) or name it with --chromium PATH"
    )
}

/// Prints a standalone HTML document to PDF with headless Chromium: its own profile, no
/// network features (the document names no external resource), no header or footer.
fn print_pdf(chromium: &Path, html: &str) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir().context("cannot make a temporary folder for printing")?;
    let page = dir.path().join("annual.html");
    let pdf = dir.path().join("annual.pdf");
    std::fs::write(&page, html).with_context(|| format!("cannot write {}", page.display()))?;
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", chromium.display()))?;
    match std::fs::read(&pdf) {
        Ok(b) if b.starts_with(b"%PDF") => Ok(b),
        _ => bail!(
            "{} did not print the report ({}): {}",
            chromium.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message")
        ),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Ncmec,
    Eu,
}

/// Runs `spoor reports`.
pub fn run(args: ReportsArgs) -> anyhow::Result<ExitCode> {
    let (format, reports, out, since, actor) = match args.command {
        ReportsCommand::Export { format, reports, out, since, actor } => {
            (format, reports, out, since, actor)
        }
        ReportsCommand::Annual(a) => return annual(&args.store, a),
    };
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

/// Reads the recall and false-match figures of a `spoor eval --jsonl` file.
pub(crate) fn read_eval(path: &Path) -> anyhow::Result<spoor_console::annual::EvalQuote> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the eval records {}", path.display()))?;
    spoor_console::annual::parse_eval(&text, &path.display().to_string())
        .map_err(|e| anyhow::anyhow!(e))
}

/// Reads the `[annual]` statements of a deployment file.
pub(crate) fn read_deployment(path: &Path) -> anyhow::Result<spoor_console::annual::Deployment> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the deployment file {}", path.display()))?;
    spoor_console::annual::parse_deployment(&text)
        .map_err(|e| anyhow::anyhow!("the deployment file {} is not valid: {e}", path.display()))
}

fn annual(store_args: &StoreArgs, a: AnnualArgs) -> anyhow::Result<ExitCode> {
    let AnnualArgs { year, format, out, deployment, retention, eval, chromium, actor } = a;
    // The browser is looked for first: a missing one fails before any work.
    let chromium = if format == AnnualFormat::Pdf { Some(find_chromium(chromium)?) } else { None };
    let now = spoor_bank::model::now_ms();
    let this_year: i32 = spoor_bank::model::format_time(now)[..4].parse().unwrap_or(1970);
    let year = year.unwrap_or(this_year - 1);
    let deployment = match &deployment {
        Some(p) => read_deployment(p)?,
        None => spoor_console::annual::Deployment::default(),
    };
    let policy = match &retention {
        Some(p) => spoor_server::retention::load(p)?,
        None => spoor_bank::retention::Policy::default(),
    };
    let eval = eval.as_deref().map(read_eval).transpose()?;
    let store = store_args.open()?;
    let sources = spoor_console::annual::Sources { deployment, policy, eval };
    let report = spoor_console::annual::make(&*store, year, &sources, now)
        .map_err(|e| anyhow::anyhow!("cannot make the annual report: {e}"))?;
    let bytes = match format {
        AnnualFormat::Json => (serde_json::to_string_pretty(&report)? + "\n").into_bytes(),
        AnnualFormat::Html => spoor_console::annual::html(&report).into_bytes(),
        AnnualFormat::Pdf => print_pdf(
            chromium.as_deref().expect("found before"),
            &spoor_console::annual::html(&report),
        )?,
    };
    match &out {
        Some(p) => {
            std::fs::write(p, &bytes).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(&bytes)?;
        }
    }
    let actor = actor.unwrap_or_else(crate::bank::default_actor);
    let format_name = match format {
        AnnualFormat::Json => "json",
        AnnualFormat::Html => "html",
        AnnualFormat::Pdf => "pdf",
    };
    store.audit_append(
        &spoor_audit::NewRecord::by(&actor, "annual_report", "year", &year.to_string())
            .with_details(serde_json::json!({ "format": format_name })),
    )?;
    Ok(ExitCode::SUCCESS)
}
