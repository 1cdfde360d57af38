//! The command line: clap definitions, validation into engine configs, and the one place
//! that maps errors to exit codes (0 ok, 1 unhealthy / runtime / privilege, 2 bad input).

/// A line on stderr. Unlike `eprintln!`, a closed stderr (`2>&1 | head`) is not a panic:
/// there is nobody left to tell.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bench;
mod check;
mod dry_run;
mod estimate;
mod merge;
mod net;
mod rate_arg;
mod resumed;
mod scan;
mod summary_out;
mod values;
mod watch;
mod watch_targets;

use clap::{Parser, Subcommand};
use thiserror::Error;

use crate::engine::EngineError;
use crate::io::IoError;
use crate::target::TargetError;

/// Exit code for bad input: a flag, a target, a port or a file.
pub const EXIT_INPUT: i32 = 2;
/// Exit code for a runtime failure, a missing privilege, or an unhealthy `check`.
pub const EXIT_FAIL: i32 = 1;

#[derive(Debug, Error)]
pub enum CliError {
    /// Bad input: exit 2, nothing sent.
    #[error("{0}")]
    Input(String),
    /// Everything else that stops a run: exit 1.
    #[error("{0}")]
    Runtime(String),
}

impl From<TargetError> for CliError {
    /// A name that does not resolve is a failure of the run (the resolver, the network, a
    /// name not yet published), as curl and ssh treat it: exit 1, not "you typed it wrong".
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Resolve(..) => CliError::Runtime(e.to_string()),
            _ => CliError::Input(e.to_string()),
        }
    }
}

impl From<IoError> for CliError {
    fn from(e: IoError) -> Self {
        match e {
            IoError::NoSuchInterface(_) => CliError::Input(e.to_string()),
            _ => CliError::Runtime(e.to_string()),
        }
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Io(io) => io.into(),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

const ABOUT: &str =
    "Decide whether TCP ports are alive with a crafted SYN, never completing a connection.";

const LONG_ABOUT: &str = "\
Decide whether TCP ports are alive with a crafted SYN, never completing a connection.

synprobe sends a SYN it built itself from a raw socket and reads the reply:
  SYN-ACK               open       something listens (a load balancer's TCP check passes)
  RST                   closed     nothing listens (opening the firewall is not enough)
  ICMP unreachable      filtered   a firewall rejects the SYN
  no reply              filtered   a filter drops the SYN
After every SYN-ACK it sends an RST, so the target never keeps a half-open entry.

It needs CAP_NET_RAW and CAP_NET_ADMIN: run it as root, or once
  sudo setcap cap_net_raw,cap_net_admin=eip $(command -v synprobe)

Exit codes: 0 success (check: every target healthy), 1 a target unhealthy, a runtime
error or a missing privilege, 2 bad input, 3 a scan stopped by --max-runtime or
--max-results, 130 a scan interrupted (Ctrl-C, SIGTERM or SIGHUP; its summary says what
was done; both leave a resume file for `scan --resume`).";

#[derive(Debug, Parser)]
#[command(name = "synprobe", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sweep addresses x ports at a set rate and report each pair's state.
    Scan(Box<scan::ScanArgs>),
    /// Would a load balancer's TCP health check pass? One verdict per HOST:PORT, with its reason.
    Check(check::CheckArgs),
    /// Measure how many probes per second this machine sustains; prints one JSON line.
    Bench(bench::BenchArgs),
    /// Health-check a fleet for good, as a load balancer does: one event line per change of health.
    Watch(watch::WatchArgs),
    /// Combine shard or resume outputs (jsonl, csv) into one deduplicated, sorted result set.
    Merge(merge::MergeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(after_help = "\
Examples:
  synprobe completions bash > /usr/share/bash-completion/completions/synprobe
  synprobe completions zsh > /usr/local/share/zsh/site-functions/_synprobe
  synprobe completions fish > ~/.config/fish/completions/synprobe.fish")]
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// The whole command line as clap sees it: for completions and the man pages.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `synprobe completions SHELL`: the script on stdout. A closed stdout is not an error.
fn completions(shell: clap_complete::Shell) -> Result<i32, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "synprobe", &mut script);
    let text = String::from_utf8_lossy(&script);
    print_result(text.trim_end()).map(|_| 0)
}

/// Writes one result line to stdout. `Ok(false)` when the reader has gone away (a closed
/// pipe, as with `| head`): nothing more can be shown, which is not an error of the run.
pub(crate) fn print_result(line: &str) -> Result<bool, CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Runtime(format!("writing results: {e}"))),
    }
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    let result = match cli.command {
        Command::Scan(a) => scan::run(*a),
        Command::Check(a) => check::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Watch(a) => watch::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Completions { shell } => completions(shell),
    };
    match result {
        Ok(code) => code,
        Err(CliError::Input(msg)) => {
            say!("synprobe: {msg}");
            EXIT_INPUT
        }
        Err(CliError::Runtime(msg)) => {
            say!("synprobe: {msg}");
            EXIT_FAIL
        }
    }
}

/// clap's error text as one line: its first line, with the indented lines right under it
/// (what is missing, say: "... not provided: <TARGET>..."); usage and tips are dropped.
fn one_line(text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let mut out = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let detail: Vec<&str> = lines
        .take_while(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty())
        .map(str::trim)
        .collect();
    if !detail.is_empty() {
        if !out.ends_with(':') {
            out.push(':');
        }
        out.push(' ');
        out.push_str(&detail.join(", "));
    }
    out
}

/// Help and version go out as clap renders them; a usage error becomes one line.
fn clap_exit(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_INPUT
            } else {
                0
            }
        }
        _ => {
            say!(
                "synprobe: {} (see --help)",
                one_line(&e.render().to_string())
            );
            EXIT_INPUT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_every_subcommand_for_each_shell() {
        use clap_complete::Shell;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(), "synprobe", &mut out);
            let text = String::from_utf8(out).unwrap();
            for word in [
                "scan", "check", "merge", "watch", "bench", "dry-run", "rate",
            ] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn a_name_that_does_not_resolve_is_a_runtime_error_naming_it() {
        let e: CliError =
            TargetError::Resolve("db-9.internal".into(), "Name or service not known".into()).into();
        assert!(
            matches!(&e, CliError::Runtime(m) if m.contains("'db-9.internal'")),
            "{e:?}"
        );
        let e: CliError = TargetError::Target("x!".into(), "bad".into()).into();
        assert!(matches!(e, CliError::Input(_)));
    }

    #[test]
    fn clap_errors_become_one_line_naming_what_is_wrong() {
        let missing = "error: the following required arguments were not provided:\n  <TARGET>...\n  --ports <PORTS>\n\nUsage: synprobe scan --ports <PORTS> <TARGET>...\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(missing),
            "the following required arguments were not provided: <TARGET>..., --ports <PORTS>"
        );
        let unexpected = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: x\n";
        assert_eq!(one_line(unexpected), "unexpected argument '--bogus' found");
        assert_eq!(one_line(""), "invalid arguments");
    }
}
