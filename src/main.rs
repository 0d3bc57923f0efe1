//! The `deckhand` binary: parse arguments, set up logging, call the library, print its product and
//! map the outcome to an exit code (0 done, 1 some work failed, 2 usage or configuration error).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use deckhand::cli::{Cli, Command, EvalArgs, LogFormat, OutputFormat, PolicyCommand, SyncArgs};
use deckhand::config::{self, Config};
use deckhand::policy::{self, Constraint, Filter, Order, Policy, Rule};
use deckhand::sync::{self, Report, SyncOptions};
use tracing_subscriber::EnvFilter;

/// How a command ended.
enum Outcome {
    Done,
    PartlyFailed,
    Usage,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    let outcome = match &cli.command {
        Command::Sync(args) => run_sync(&cli, args),
        Command::Policy(PolicyCommand::Eval(args)) => run_eval(args),
    };
    match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::PartlyFailed => ExitCode::from(1),
        Outcome::Usage => ExitCode::from(2),
    }
}

fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("DECKHAND_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false);
    match format {
        LogFormat::Text => builder.without_time().init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn error(message: impl std::fmt::Display) {
    eprintln!("error: {message}");
}

fn print_error_chain(err: &dyn std::error::Error) {
    error(err);
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_FILE))
}

fn load_config(cli: &Cli) -> Result<Config, Outcome> {
    let path = config_path(cli);
    config::load(&path).map_err(|errors| {
        for e in &errors.0 {
            error(e);
        }
        Outcome::Usage
    })
}

fn run_sync(cli: &Cli, args: &SyncArgs) -> Outcome {
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error(format_args!("cannot start the async runtime: {e}"));
            return Outcome::PartlyFailed;
        }
    };
    let options = SyncOptions {
        dry_run: args.dry_run,
        no_commit: args.no_commit,
        no_push: args.no_push,
    };
    let report = match runtime.block_on(sync::sync(&config, options)) {
        Ok(r) => r,
        Err(e) => {
            print_error_chain(&e);
            return Outcome::PartlyFailed;
        }
    };
    if let Err(e) = print_report(&report, args) {
        error(format_args!("cannot write the output: {e}"));
        return Outcome::PartlyFailed;
    }
    if report.errors.is_empty() {
        Outcome::Done
    } else {
        Outcome::PartlyFailed
    }
}

fn print_report(report: &Report, args: &SyncArgs) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.output {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        OutputFormat::Text => {
            if args.dry_run {
                out.write_all(report.diff.as_bytes())?;
            }
            let verb = if args.dry_run {
                "would update"
            } else {
                "updated"
            };
            for c in &report.changes {
                eprintln!(
                    "{verb} {}:{} ({}): {} -> {}",
                    c.file.display(),
                    c.line,
                    c.policy,
                    c.old,
                    c.new
                );
            }
            let summary = match (&report.commit, report.changes.len()) {
                (_, 0) => "no changes".to_string(),
                (Some(commit), n) => {
                    format!("{n} change(s), commit {}", &commit[..commit.len().min(12)])
                }
                (None, n) if args.dry_run => {
                    format!("{n} change(s) planned (dry run, nothing written)")
                }
                (None, n) => format!("{n} change(s) written, not committed"),
            };
            let pushed = report.push.as_ref().map_or_else(String::new, |p| {
                format!(
                    ", pushed {} to {}/{}",
                    &p.commit[..p.commit.len().min(12)],
                    p.remote,
                    p.branch
                )
            });
            eprintln!(
                "{summary}{pushed}; {} warning(s), {} error(s)",
                report.warnings.len(),
                report.errors.len()
            );
        }
    }
    out.flush()
}

fn run_eval(args: &EvalArgs) -> Outcome {
    let policy = match eval_policy(args) {
        Ok(p) => p,
        Err(e) => {
            error(e);
            return Outcome::Usage;
        }
    };
    let exclusions = {
        let patterns = if args.exclude.is_empty() {
            vec![policy::DEFAULT_EXCLUSION.to_string()]
        } else {
            args.exclude.clone()
        };
        let mut res = Vec::new();
        for p in patterns {
            match regex::Regex::new(&p) {
                Ok(re) => res.push(re),
                Err(e) => {
                    error(format_args!("--exclude `{p}` is not a valid regex: {e}"));
                    return Outcome::Usage;
                }
            }
        }
        res
    };
    let text = match read_tags(args) {
        Ok(t) => t,
        Err(e) => {
            error(e);
            return Outcome::Usage;
        }
    };
    let tags: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let tags = policy::exclude(tags, &exclusions);
    match policy.select(&tags) {
        Ok(tag) => {
            println!("{tag}");
            Outcome::Done
        }
        Err(e) => {
            error(e);
            Outcome::PartlyFailed
        }
    }
}

fn eval_policy(args: &EvalArgs) -> Result<Policy, String> {
    let order = |s: &str| -> Result<Order, String> {
        s.parse()
            .map_err(|_| format!("`{s}` is not an order (use asc or desc)"))
    };
    let rule = if let Some(range) = &args.semver {
        Rule::Semver(Constraint::parse(range).map_err(|e| format!("--semver: {e}"))?)
    } else if let Some(o) = &args.alphabetical {
        Rule::Alphabetical(order(o)?)
    } else if let Some(o) = &args.numerical {
        Rule::Numerical(order(o)?)
    } else {
        return Err("give one of --semver, --alphabetical, --numerical".into());
    };
    let filter = match &args.pattern {
        Some(p) => {
            Some(Filter::new(p, args.extract.as_deref()).map_err(|e| format!("--pattern: {e}"))?)
        }
        None => None,
    };
    Ok(Policy { rule, filter })
}

fn read_tags(args: &EvalArgs) -> Result<String, String> {
    match &args.tags_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read tags from {}: {e}", path.display())),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("cannot read tags from stdin: {e}"))?;
            Ok(s)
        }
    }
}
