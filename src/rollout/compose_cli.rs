//! `mode: compose`: compose itself recreates the service (`up -d --no-deps <service>`), so its
//! config-hash label stays what compose expects. deckhand still pulls (with its credentials)
//! and gates; a rollback runs compose again with a one-service override naming the old image.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::compose::ComposeProject;

/// The compose command found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeCommand(Vec<String>);

impl ComposeCommand {
    /// `docker compose` (v2 plugin) when it answers, else `docker-compose` (v1).
    ///
    /// # Errors
    ///
    /// A message naming both when neither runs.
    pub async fn find() -> Result<ComposeCommand, String> {
        for candidate in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let ok = Command::new(candidate[0])
                .args(&candidate[1..])
                .arg("version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(ComposeCommand(
                    candidate.iter().map(|s| (*s).to_string()).collect(),
                ));
            }
        }
        Err(
            "mode: compose needs `docker compose` or `docker-compose` (Debian package docker-compose)"
                .into(),
        )
    }

    /// The command line, for messages.
    #[must_use]
    pub fn display(&self) -> String {
        self.0.join(" ")
    }

    /// Runs `up -d --no-deps <service>` for `project` (plus an override file, for a rollback).
    ///
    /// # Errors
    ///
    /// The command's exit status and the end of its output.
    pub async fn up(
        &self,
        project: &ComposeProject,
        service: &str,
        docker_host: Option<&str>,
        override_file: Option<&Path>,
    ) -> Result<(), String> {
        let mut cmd = Command::new(&self.0[0]);
        cmd.args(&self.0[1..])
            .arg("-p")
            .arg(&project.name)
            .arg("-f")
            .arg(&project.file);
        if let Some(o) = override_file {
            cmd.arg("-f").arg(o);
        }
        cmd.args(["up", "-d", "--no-deps", service])
            .current_dir(&project.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(host) = docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        let out = cmd
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", self.display()))?;
        let text = String::from_utf8_lossy(&out.stderr);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            tracing::debug!(service, "{}: {line}", self.display());
        }
        if out.status.success() {
            Ok(())
        } else {
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!(
                "{} up -d --no-deps {service} failed ({}): {}",
                self.display(),
                out.status,
                tail.join(" | ")
            ))
        }
    }
}

/// An override file that sets `service`'s image (YAML with a JSON-quoted value, so no image
/// text can change its structure).
#[must_use]
pub fn image_override(service: &str, image: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "services:\n  {}:\n    image: {}\n",
        quote(service),
        quote(image)
    )
}

#[cfg(test)]
mod tests {
    use super::image_override;

    #[test]
    fn override_quotes_values() {
        assert_eq!(
            image_override("web", "reg:5000/app:1 # x"),
            "services:\n  \"web\":\n    image: \"reg:5000/app:1 # x\"\n"
        );
    }
}
