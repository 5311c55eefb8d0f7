//! `spoor users`: console accounts. Create (prints a one-time setup link), list, disable, reset
//! (a new setup link; logs the person out everywhere), change role, limit to review queues.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use spoor_bank::model::now_ms;
use spoor_bank::people::SecretToken;
use spoor_bank::{PersonRole, User};

use crate::bank::StoreArgs;

/// Arguments of `spoor users`.
#[derive(Args, Debug)]
pub struct UsersArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting [default: cli:$USER].
    #[arg(long, env = "SPOOR_ACTOR", global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Args, Debug)]
struct LinkArgs {
    /// Address of the console as the person's browser reaches it; the setup link starts with it.
    #[arg(long, env = "SPOOR_BASE_URL", default_value = "http://127.0.0.1:5100", value_parser = parse_base_url)]
    base_url: String,
    /// How long the setup link works, in hours.
    #[arg(long, default_value_t = 72, value_parser = clap::value_parser!(u32).range(1..=720))]
    valid_hours: u32,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Make an account. The person finishes it with the one-time setup link printed as the last
    /// line of standard output (password, then an authenticator app); send it to them privately.
    Create {
        /// Unique name: a-z, 0-9, '.', '_' and '-', starting with a letter.
        #[arg(long)]
        name: String,
        /// admin, curator, reviewer or auditor.
        #[arg(long, value_parser = parse_role)]
        role: PersonRole,
        /// The review queues the person takes cases from, separated by commas (default: every
        /// queue).
        #[arg(long, value_delimiter = ',')]
        queues: Vec<String>,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// List the accounts (never their passwords or secrets), as JSON lines.
    List,
    /// Disable an account for good: it can no longer log in, and its sessions end now.
    Disable {
        /// The person's name.
        name: String,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
    },
    /// Clear an account's password and authenticator, end its sessions everywhere, and print a
    /// new one-time setup link (last line of standard output).
    Reset {
        /// The person's name.
        name: String,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Change what a person may do.
    Role {
        /// The person's name.
        name: String,
        /// admin, curator, reviewer or auditor.
        #[arg(value_parser = parse_role)]
        role: PersonRole,
    },
    /// Limit the review queues a person takes cases from (administrators take every queue
    /// whatever their list), or with --all let them take every queue.
    SetQueues {
        /// The person's name.
        name: String,
        /// The queues, separated by commas (a-z, 0-9, '_' and '-'; not senior).
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        queues: Vec<String>,
        /// Every queue.
        #[arg(long)]
        all: bool,
    },
}

fn parse_role(s: &str) -> Result<PersonRole, String> {
    s.parse()
}

fn parse_base_url(s: &str) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/');
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} is not an http:// or https:// address (for example https://spoor.example.org)"))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) || rest.chars().any(char::is_control) {
        return Err(format!(
            "{s:?} is not a usable base address: give scheme, host and optional port and path, \
             such as https://spoor.example.org"
        ));
    }
    Ok(t.to_string())
}

/// One line of `spoor users list`: the account and its state now.
#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    user: &'a User,
    state: &'static str,
}

/// Runs `spoor users`.
pub fn run(args: UsersArgs) -> anyhow::Result<ExitCode> {
    let actor = args.actor.clone().unwrap_or_else(crate::bank::default_actor);
    let store = args.store.open()?;
    let mut out = std::io::stdout().lock();
    match args.command {
        UsersCommand::Create { name, role, queues, link } => {
            let token = SecretToken::generate()?;
            let expires = now_ms() + i64::from(link.valid_hours) * 3_600_000;
            let user =
                store.create_user_in_queues(&name, role, &queues, &actor, &token.hash, expires)?;
            eprintln!(
                "spoor: created {} account {:?}; the setup link below works once, for {} hours \
                 (until {}). Send it to the person privately:",
                role.name(),
                user.name,
                link.valid_hours,
                spoor_bank::model::format_time(expires)
            );
            writeln!(out, "{}/setup/{}", link.base_url, token.token)?;
        }
        UsersCommand::List => {
            let now = now_ms();
            for u in store.users()? {
                let line = Listed { state: u.state(now), user: &u };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            }
        }
        UsersCommand::Disable { name, reason } => {
            let u = store.disable_user(&name, &actor, &reason, now_ms())?;
            eprintln!("spoor: disabled {:?}; their sessions have ended", u.name);
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Listed { state: u.state(now_ms()), user: &u })?
            )?;
        }
        UsersCommand::Reset { name, link } => {
            let token = SecretToken::generate()?;
            let expires = now_ms() + i64::from(link.valid_hours) * 3_600_000;
            let u = store.reset_user(&name, &actor, &token.hash, expires)?;
            eprintln!(
                "spoor: reset {:?}: password and authenticator cleared, every session ended. \
                 The new setup link works once, for {} hours; send it to the person privately:",
                u.name, link.valid_hours
            );
            writeln!(out, "{}/setup/{}", link.base_url, token.token)?;
        }
        UsersCommand::SetQueues { name, queues, all } => {
            let queues = if all { Vec::new() } else { queues };
            let u = store.set_user_queues(&name, &queues, &actor)?;
            if u.queues.is_empty() {
                eprintln!("spoor: {:?} takes cases from every queue", u.name);
            } else {
                eprintln!("spoor: {:?} takes cases from {} only", u.name, u.queues.join(", "));
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Listed { state: u.state(now_ms()), user: &u })?
            )?;
        }
        UsersCommand::Role { name, role } => {
            let u = store.set_user_role(&name, role, &actor)?;
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Listed { state: u.state(now_ms()), user: &u })?
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_base_url;

    #[test]
    fn base_urls() {
        assert_eq!(parse_base_url("https://a.example/").unwrap(), "https://a.example");
        assert_eq!(parse_base_url("http://127.0.0.1:5100").unwrap(), "http://127.0.0.1:5100");
        assert_eq!(parse_base_url("https://h/spoor/").unwrap(), "https://h/spoor");
        for bad in ["ftp://x", "a.example", "https://", "https://a?b"] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }
}
