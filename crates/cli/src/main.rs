//! `spoor`: the command-line entry point. Parses flags, picks a command, maps errors to exit
//! codes; the work lives in the library crates.
//!
//! Exit codes: 0 success; 2 some input failed (each failure is reported and the run goes on);
//! 1 is reserved for "something matched" in commands that match.

mod audit;
mod bank;
mod bench;
mod bench_cases;
mod bench_console;
mod bench_receivers;
mod bench_reports;
mod bench_statistics;
mod eval;
mod exchange;
mod files;
mod hash;
mod matching;
mod reports;
mod retention;
mod scan;
mod serve;
mod submit;
mod users;
mod walk;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Spoor: find, report and remove known abuse material by hash matching.
#[derive(Parser, Debug)]
#[command(name = "spoor", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Hash images: PDQ (with quality and optional dihedral variants), MD5, SHA-1, SHA-256.
    Hash(hash::HashArgs),
    /// Match PDQ hashes against a list, exactly, within a Hamming radius.
    Match(matching::MatchArgs),
    /// Scan storage: walk, hash the media found, report what matches a bank (exit 1 on a match).
    Scan(scan::ScanArgs),
    /// The matching service: HTTP API over the banks, with API keys and roles.
    Serve(Box<serve::ServeArgs>),
    /// API keys of the service: create (shown once), list, revoke.
    Keys(serve::KeysArgs),
    /// Console accounts of people: create (prints a setup link), list, disable, reset, role.
    Users(users::UsersArgs),
    /// Hash banks in the local store: create, import, export, disable entries, read the log.
    Bank(bank::BankArgs),
    /// Benchmarks on seeded random data.
    Bench(bench::BenchArgs),
    /// The audit log: read, export, verify the chain, sign checkpoints.
    Audit(audit::AuditArgs),
    /// Reports of confirmed cases as files (NCMEC XML, EU Centre JSON); the annual report.
    #[command(visible_alias = "report")]
    Reports(reports::ReportsArgs),
    /// Retention: erase what the law no longer allows to keep.
    Retention(retention::RetentionArgs),
    /// Measure recall and false matches on benign pictures: standard changes, hashed again.
    Eval(eval::EvalArgs),
    /// Follow a bank of another Spoor instance into a local bank (with an exchange key).
    Exchange(exchange::ExchangeArgs),
}

/// The `--threads` value, or all cores.
fn threads(requested: Option<u16>) -> usize {
    requested
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(args) => hash::run(args),
        Command::Match(args) => matching::run(args),
        Command::Bank(args) => bank::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Scan(args) => scan::run(args),
        Command::Keys(args) => serve::keys(args),
        Command::Users(args) => users::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Reports(args) => reports::run(args),
        Command::Retention(args) => retention::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Exchange(args) => exchange::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spoor: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
