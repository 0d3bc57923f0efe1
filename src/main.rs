//! The `deckhand` binary: parse arguments, set up logging, call the library, print its product and
//! map the outcome to an exit code (0 done, 1 some work failed, 2 usage or configuration error).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use deckhand::cli::{
    Cli, Command, EvalArgs, ExplainArgs, LintArgs, LogFormat, OutputFormat, PolicyCommand,
    RolloutArgs, RunArgs, StatusArgs, SyncArgs,
};
use deckhand::config::{self, Config};
use deckhand::policy::{self, Constraint, Filter, Order, Policy, Rule};
use deckhand::rollout;
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
        Command::Policy(PolicyCommand::Explain(args)) => run_explain(&cli, args),
        Command::Lint(args) => run_lint(&cli, args),
        Command::Run(args) => run_daemon(&cli, args),
        Command::Status(args) => run_status(&cli, args),
        Command::Rollout(args) => run_rollout(&cli, args),
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
    let config = config::load(&path).map_err(|errors| {
        for e in &errors.0 {
            error(e);
        }
        Outcome::Usage
    })?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    Ok(config)
}

fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            error(format_args!("cannot start the async runtime: {e}"));
            Outcome::PartlyFailed
        })
}

fn run_lint(cli: &Cli, args: &LintArgs) -> Outcome {
    use deckhand::lint::{LintOptions, Severity};
    let config = match config::load(&config_path(cli)) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                println!("error: {e}");
            }
            eprintln!("{} error(s): the config does not load", errors.0.len());
            return Outcome::Usage;
        }
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let options = LintOptions {
        offline: args.offline,
    };
    let findings = runtime.block_on(deckhand::lint::run(&config, options));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let shown = match args.output {
        OutputFormat::Json => serde_json::to_string_pretty(&findings)
            .map(|s| println!("{s}"))
            .is_ok(),
        OutputFormat::Text => {
            for f in &findings {
                println!("{f}");
            }
            true
        }
    };
    if !shown {
        error("cannot write the findings");
        return Outcome::PartlyFailed;
    }
    eprintln!("{errors} error(s), {warnings} warning(s)");
    if errors > 0 || (args.strict && warnings > 0) {
        Outcome::PartlyFailed
    } else {
        Outcome::Done
    }
}

fn run_explain(cli: &Cli, args: &ExplainArgs) -> Outcome {
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    match runtime.block_on(deckhand::explain::explain(&config, &args.name)) {
        Ok(explanation) => {
            match args.output {
                OutputFormat::Json => match serde_json::to_string_pretty(&explanation) {
                    Ok(s) => println!("{s}"),
                    Err(e) => error(e),
                },
                OutputFormat::Text => print!("{explanation}"),
            }
            if explanation.pick.is_ok() {
                Outcome::Done
            } else {
                Outcome::PartlyFailed
            }
        }
        Err(e @ deckhand::explain::ExplainError::Unknown { .. }) => {
            error(e);
            Outcome::Usage
        }
        Err(e) => {
            error(e);
            Outcome::PartlyFailed
        }
    }
}

fn run_sync(cli: &Cli, args: &SyncArgs) -> Outcome {
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(outcome) => return outcome,
    };
    let options = SyncOptions {
        dry_run: args.dry_run,
        no_commit: args.no_commit,
        no_push: args.no_push,
    };
    let mut report = match runtime.block_on(sync::sync(&config, options)) {
        Ok(r) => r,
        Err(e) => {
            print_error_chain(&e);
            return Outcome::PartlyFailed;
        }
    };
    // The rollout reconciles whatever the files say now, so it runs even when some of the sync
    // failed; a dry run changes nothing, so it does not.
    if !args.dry_run && !args.no_rollout && config.rollout.is_some() {
        let progress = pull_progress();
        let options = rollout::Options {
            state_dir: deckhand::daemon::state::resolve_dir(
                args.state_dir.as_deref(),
                config.daemon.state_dir.as_deref(),
                &config.file,
            ),
            project: None,
            progress: progress.as_ref(),
        };
        match runtime.block_on(rollout::reconcile(&config, &options)) {
            Ok(r) => report.rollout = Some(r),
            Err(e) => print_error_chain(&e),
        }
    }
    if let Err(e) = print_report(&report, args) {
        error(format_args!("cannot write the output: {e}"));
        return Outcome::PartlyFailed;
    }
    let rollout_failed = report.rollout.as_ref().is_some_and(rollout::Report::failed);
    if report.errors.is_empty() && !rollout_failed {
        Outcome::Done
    } else {
        Outcome::PartlyFailed
    }
}

fn run_rollout(cli: &Cli, args: &RolloutArgs) -> Outcome {
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(outcome) => return outcome,
    };
    let progress = pull_progress();
    let options = rollout::Options {
        state_dir: deckhand::daemon::state::resolve_dir(
            args.state_dir.as_deref(),
            config.daemon.state_dir.as_deref(),
            &config.file,
        ),
        project: args.project.clone(),
        progress: progress.as_ref(),
    };
    let report = match runtime.block_on(rollout::reconcile(&config, &options)) {
        Ok(r) => r,
        Err(e) => {
            print_error_chain(&e);
            return Outcome::Usage;
        }
    };
    let printed = match args.output {
        OutputFormat::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        OutputFormat::Text => {
            print_rollout_summary(&report);
            Ok(())
        }
    };
    if let Err(e) = printed {
        error(format_args!("cannot write the output: {e}"));
        return Outcome::PartlyFailed;
    }
    if report.failed() {
        Outcome::PartlyFailed
    } else {
        Outcome::Done
    }
}

fn print_rollout_summary(report: &rollout::Report) {
    for s in &report.services {
        let what = match s.outcome {
            rollout::Outcome::UpToDate => continue,
            rollout::Outcome::Updated => "updated",
            rollout::Outcome::RolledBack => "ROLLED BACK",
            rollout::Outcome::FailedKept => "FAILED (kept)",
            rollout::Outcome::Failed => "FAILED",
            rollout::Outcome::Held => "held",
            rollout::Outcome::Skipped => "skipped",
        };
        let change = match &s.to {
            Some(to) if !s.from.is_empty() => format!(" {} -> {to}", s.from.join(", ")),
            Some(to) => format!(" {to}"),
            None => String::new(),
        };
        eprintln!("{what} {}/{}{change}: {}", s.project, s.service, s.message);
    }
    let count = |o: rollout::Outcome| report.services.iter().filter(|s| s.outcome == o).count();
    eprintln!(
        "rollout: {} updated, {} up to date, {} rolled back, {} failed, {} held; {} warning(s), {} error(s)",
        count(rollout::Outcome::Updated),
        count(rollout::Outcome::UpToDate),
        count(rollout::Outcome::RolledBack),
        count(rollout::Outcome::Failed) + count(rollout::Outcome::FailedKept),
        count(rollout::Outcome::Held),
        report.warnings.len(),
        report.errors.len()
    );
}

/// A progress bar per pull on a terminal; debug log lines otherwise.
fn pull_progress() -> Box<dyn rollout::docker::PullProgress> {
    if std::io::stderr().is_terminal() {
        Box::new(BarProgress::default())
    } else {
        Box::new(rollout::docker::LogProgress)
    }
}

/// Bytes downloaded over all layers of the image being pulled, as one bar.
#[derive(Default)]
struct BarProgress {
    state: std::sync::Mutex<Option<PullBar>>,
}

struct PullBar {
    bar: indicatif::ProgressBar,
    layers: std::collections::HashMap<String, (u64, u64)>,
}

impl rollout::docker::PullProgress for BarProgress {
    fn update(&self, image: &str, layer: Option<&str>, status: &str, current: u64, total: u64) {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pull = guard.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(format!("pulling {image}"));
            PullBar {
                bar,
                layers: std::collections::HashMap::new(),
            }
        });
        if let (Some(layer), true) = (layer, status == "Downloading" && total > 0) {
            pull.layers.insert(layer.to_string(), (current, total));
            let (done, all) = pull
                .layers
                .values()
                .fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
            pull.bar.set_length(all);
            pull.bar.set_position(done);
        }
    }

    fn finish(&self, _image: &str) {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pull) = guard.take() {
            pull.bar.finish_and_clear();
        }
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
            if let Some(rollout) = &report.rollout {
                print_rollout_summary(rollout);
            }
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

fn run_daemon(cli: &Cli, args: &RunArgs) -> Outcome {
    use deckhand::daemon::{self, RunOptions};
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    // Two workers: one update pass (git, files) never holds up the webhooks.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error(format_args!("cannot start the async runtime: {e}"));
            return Outcome::PartlyFailed;
        }
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let options = RunOptions {
        state_dir: args.state_dir.clone(),
    };
    let result = runtime.block_on(async {
        let signals = cancel.clone();
        tokio::spawn(async move {
            match daemon::on_signals(signals.clone()).await {
                Ok(()) => {
                    eprintln!("second signal: exiting at once");
                    std::process::exit(130);
                }
                Err(e) => {
                    error(format_args!("cannot listen for signals: {e}"));
                    signals.cancel();
                }
            }
        });
        daemon::run(config, options, cancel).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => Outcome::Done,
        Err(e) => {
            print_error_chain(&e);
            if e.is_config() {
                Outcome::Usage
            } else {
                Outcome::PartlyFailed
            }
        }
    }
}

fn run_status(cli: &Cli, args: &StatusArgs) -> Outcome {
    use deckhand::daemon::{state, status};
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let dir = state::resolve_dir(
        args.state_dir.as_deref(),
        config.daemon.state_dir.as_deref(),
        &config.file,
    );
    let report = status::status(&config, &dir);
    let mut out = std::io::stdout().lock();
    let written = match args.output {
        OutputFormat::Json => serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        OutputFormat::Text => out.write_all(status::render_text(&report).as_bytes()),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        error(format_args!("cannot write the output: {e}"));
        return Outcome::PartlyFailed;
    }
    Outcome::Done
}
