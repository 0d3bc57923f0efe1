//! Command-line interface. The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// GitOps image automation for Docker Compose hosts: keeps the image tags in a git checkout current
/// from Flux-style setter markers, and commits the change.
#[derive(Debug, Parser)]
#[command(name = "deckhand", version, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $DECKHAND_CONFIG, then ./deckhand.yaml]
    #[arg(
        short,
        long,
        global = true,
        env = "DECKHAND_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// More log output (-v debug, -vv trace). DECKHAND_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output format of a command's product (stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A summary for people.
    Text,
    /// Machine-readable JSON.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass: ask the registries, pick the newest tags, rewrite the marked values, commit.
    Sync(SyncArgs),
    /// Tag policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check the configuration and the marked files without changing anything; each warning
    /// names the file and the YAML to paste that fixes it. Exit 0 with warnings only, 1 with
    /// errors (or with warnings under --strict), 2 when the config does not load.
    Lint(LintArgs),
    /// The daemon: scan each repository on its interval and on webhooks, update the files when a
    /// pick changes or a file changes, serve /hooks/*, /metrics, /healthz and /readyz.
    /// SIGTERM/SIGINT stop it (an update pass in flight may finish); a second signal exits at once.
    Run(RunArgs),
    /// Per policy: the latest pick, where it is used and whether the files have it, the last scan
    /// and its error, the last update pass (from the daemon's state; no registry is asked).
    Status(StatusArgs),
    /// Make the compose services on this Docker host run the images their files name (pull,
    /// recreate, health gate, rollback), without scanning registries. Exit 1 when a service
    /// failed or was rolled back.
    Rollout(RolloutArgs),
}

/// `deckhand lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    pub strict: bool,
    /// Do not ask the registries (skips the rules that need the live tag lists).
    #[arg(long)]
    pub offline: bool,
    /// Output on stdout: text, or the findings as JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `deckhand run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// State directory [default: daemon.stateDir, then $STATE_DIRECTORY, then .deckhand-state next
    /// to the config file].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `deckhand status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// State directory (as for `run`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output on stdout: text, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `deckhand rollout`.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// Only the compose project with this name.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Where held images are remembered (the state directory, as for `run`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output on stdout: a text summary (on stderr), or the per-service results as JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `deckhand sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Print a unified diff of the edits on stdout and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the files but do not commit.
    #[arg(long)]
    pub no_commit: bool,
    /// Commit but do not push (the branch is still fetched and fast-forwarded first).
    #[arg(long)]
    pub no_push: bool,
    /// Do not roll out afterwards (by default, with a `rollout:` section, the compose services run
    /// what the files say after the commit, or after writing with --no-commit).
    #[arg(long)]
    pub no_rollout: bool,
    /// Where the rollout remembers held images (the state directory, as for `run`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output on stdout: a text summary, or JSON (picks, changes with file, line, policy, old,
    /// new; the commit; warnings and errors).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `deckhand policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Pick a tag from a list, offline, exactly as a policy would. Tags come one per line from
    /// stdin (or --tags-file); the pick is printed alone on stdout. Exit 1 when no tag qualifies,
    /// 2 on an invalid range, regex or order.
    Eval(EvalArgs),
    /// Live: every tag of the policy's repository and its fate — excluded (by which pattern),
    /// too young for minAge, filtered out, its extracted key and rank — with push times where
    /// the registry gives them (Harbor), ending with the pick.
    Explain(ExplainArgs),
}

/// `deckhand policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy: `namespace:name`, or a name unique across namespaces.
    pub name: String,
    /// Output on stdout: a table, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `deckhand policy eval`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("rule").required(true).args(["semver", "alphabetical", "numerical"])))]
pub struct EvalArgs {
    /// Semver range (Masterminds syntax, as Flux): the highest version in range wins.
    #[arg(long, value_name = "RANGE")]
    pub semver: Option<String>,
    /// Byte-wise order: asc picks the greatest, desc the least.
    #[arg(long, value_name = "ORDER", value_parser = ["asc", "desc"])]
    pub alphabetical: Option<String>,
    /// Numeric order (every candidate must be a number): asc picks the greatest, desc the least.
    #[arg(long, value_name = "ORDER", value_parser = ["asc", "desc"])]
    pub numerical: Option<String>,
    /// filterTags.pattern: a regex searched in each tag (unanchored); others are dropped.
    #[arg(long, value_name = "REGEX")]
    pub pattern: Option<String>,
    /// filterTags.extract: what to order by, e.g. `$ts` or `${1}` (default: the whole tag).
    #[arg(long, value_name = "TEMPLATE", requires = "pattern")]
    pub extract: Option<String>,
    /// exclusionList entry (repeatable). Default: Flux's `^.*\.sig$`.
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,
    /// Read tags from this file instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub tags_file: Option<PathBuf>,
}
