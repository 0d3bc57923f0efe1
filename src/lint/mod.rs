//! `deckhand lint`: checks the configuration and the marked files without changing anything,
//! and says what to paste where to fix each finding.
//!
//! The rules are pure functions of the config, the scanned markers and (for the live rules) the
//! tag lists and push times; [`run`] gathers those at the edges.

mod fix;
mod order;
mod rules;
mod run;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Serialize;

pub use order::{OrderProblem, non_chronological};
pub use rules::{LiveData, MarkedFile, check};
pub use run::{LintOptions, run};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Works, but probably not as intended.
    Warning,
    /// Does not work.
    Error,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Warning or error.
    pub severity: Severity,
    /// The file concerned.
    pub file: PathBuf,
    /// 1-based line in it, when known.
    pub line: Option<usize>,
    /// The object or key concerned (`ImagePolicy flux-system/web`, `policies.web`, a marker).
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// YAML to paste (into `file`, at `subject`) that fixes it.
    pub fix: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{severity}: {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}: {}", self.subject, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: paste into {}", self.file.display())?;
            if self.line.is_none() {
                write!(f, " ({})", self.subject)?;
            }
            writeln!(f, ":")?;
            for l in fix.lines() {
                writeln!(f, "    {l}")?;
            }
        }
        Ok(())
    }
}
