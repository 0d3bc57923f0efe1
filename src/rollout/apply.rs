//! Carrying out one container's recreate over the Engine API, create-before-remove, as compose
//! v2 does it: create the replacement from the old container's configuration with only the image
//! changed, connect its networks, stop the old one (its stop signal and grace period), swap the
//! names, start the new one; then the health gate, and either remove the old container or put it
//! back.

use std::time::{Duration, Instant};

use bollard::models::{HealthStatusEnum, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, RenameContainerOptions,
};

use super::docker::{DockerError, Engine};
use super::plan::{Target, parked_name, temporary_name};
use super::spec;

/// How often the gate looks at the new container.
const POLL: Duration = Duration::from_millis(200);

/// A container that was replaced and whose original is kept (stopped, under a parked name) until
/// the service passes its gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    /// The original container.
    pub old_id: String,
    /// Its name, now carried by the replacement.
    pub name: String,
    /// The replacement.
    pub new_id: String,
}

/// A recreate step failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// What went wrong.
    pub message: String,
    /// The replacement, when it was started (the caller decides to roll back or keep it).
    pub started: Option<Switched>,
}

impl From<DockerError> for StepError {
    fn from(e: DockerError) -> Self {
        StepError {
            message: e.to_string(),
            started: None,
        }
    }
}

/// Replaces `target` with a container running `image`. On a failure before the replacement
/// runs, the original is put back as it was (running, under its name) before returning.
///
/// # Errors
///
/// [`StepError`]; `started` is set when the replacement was started (then it is up to the caller
/// whether to [`restore`] the original).
pub async fn recreate(
    engine: &Engine,
    target: &Target,
    image: &str,
) -> Result<Switched, StepError> {
    let docker = engine.client();
    let old = engine.inspect(&target.id).await?;
    let old_image_id = old.image.clone().unwrap_or_default();
    let old_image = engine
        .inspect_image(&old_image_id)
        .await?
        .and_then(|i| i.config);
    let new_image = engine.inspect_image(image).await?.and_then(|i| i.config);
    let spec = spec::replacement(
        &old,
        old_image.as_ref(),
        new_image.as_ref(),
        image,
        engine.api_version(),
    );
    let temp = temporary_name(&target.id, &target.name);
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(temp.clone()),
                ..Default::default()
            }),
            spec.body,
        )
        .await
        .map_err(|source| DockerError::Api {
            action: "create the replacement of",
            subject: target.name.clone(),
            source,
        })?;
    let new_id = created.id;
    tracing::debug!(container = %target.name, new = %super::plan::short_id(&new_id), "created the replacement");
    let switched = Switched {
        old_id: target.id.clone(),
        name: target.name.clone(),
        new_id: new_id.clone(),
    };

    let prepared = async {
        for (network, endpoint) in spec.extra_networks {
            docker
                .connect_network(
                    &network,
                    NetworkConnectRequest {
                        container: new_id.clone(),
                        endpoint_config: Some(endpoint),
                    },
                )
                .await
                .map_err(|source| DockerError::Api {
                    action: "connect the replacement to network",
                    subject: network.clone(),
                    source,
                })?;
        }
        // The engine honours the container's own stop signal and timeout when none is given.
        docker
            .stop_container(&target.id, None)
            .await
            .map_err(|source| DockerError::Api {
                action: "stop container",
                subject: target.name.clone(),
                source,
            })?;
        rename(engine, &target.id, &parked_name(&target.id, &target.name)).await?;
        rename(engine, &new_id, &target.name).await?;
        docker
            .start_container(&new_id, None)
            .await
            .map_err(|source| DockerError::Api {
                action: "start the replacement of",
                subject: target.name.clone(),
                source,
            })
    }
    .await;
    match prepared {
        Ok(()) => Ok(switched),
        Err(e) => {
            let mut message = e.to_string();
            if let Err(undo) = restore(engine, &switched).await {
                message.push_str(&format!(
                    "; putting {} back failed too: {undo}",
                    target.name
                ));
            }
            Err(StepError {
                message,
                started: None,
            })
        }
    }
}

/// Undoes a recreate: removes the replacement, gives the original its name back and starts it.
/// Safe to call at any point of [`recreate`], and again after a crash.
///
/// # Errors
///
/// The first step that failed.
pub async fn restore(engine: &Engine, switched: &Switched) -> Result<(), DockerError> {
    let docker = engine.client();
    remove_if_present(
        engine,
        &switched.new_id,
        "remove the replacement of",
        switched.name.clone(),
    )
    .await?;
    let old = engine.inspect(&switched.old_id).await?;
    let current = old
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/');
    if current != switched.name {
        rename(engine, &switched.old_id, &switched.name).await?;
    }
    if !old.state.and_then(|s| s.running).unwrap_or(false) {
        docker
            .start_container(&switched.old_id, None)
            .await
            .map_err(|source| DockerError::Api {
                action: "start container",
                subject: switched.name.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Removes the original container after its replacement passed (its anonymous volumes now
/// belong to the replacement and stay).
///
/// # Errors
///
/// The remove call failed.
pub async fn discard_old(engine: &Engine, switched: &Switched) -> Result<(), DockerError> {
    remove_if_present(
        engine,
        &switched.old_id,
        "remove the replaced container",
        parked_name(&switched.old_id, &switched.name),
    )
    .await
}

/// Force-removes a container; one that is already gone (404) is as good as removed.
async fn remove_if_present(
    engine: &Engine,
    id: &str,
    action: &'static str,
    subject: String,
) -> Result<(), DockerError> {
    match engine
        .client()
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(source) => Err(DockerError::Api {
            action,
            subject,
            source,
        }),
    }
}

async fn rename(engine: &Engine, id: &str, name: &str) -> Result<(), DockerError> {
    engine
        .client()
        .rename_container(
            id,
            RenameContainerOptions {
                name: name.to_string(),
            },
        )
        .await
        .map_err(|source| DockerError::Api {
            action: "rename container to",
            subject: name.to_string(),
            source,
        })
}

/// How a new container proves itself.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// With a healthcheck: become `healthy` within this.
    pub health_timeout: Duration,
    /// Without one: keep running, without restarts, for this long.
    pub settle: Duration,
}

/// Waits until container `id` passes: `healthy` when it has a healthcheck, else running without
/// a restart for the settle period.
///
/// # Errors
///
/// Why it failed (exited, restarted, unhealthy, not healthy in time), or an engine error.
pub async fn gate(engine: &Engine, id: &str, gate: Gate) -> Result<(), String> {
    let start = Instant::now();
    let mut first: Option<(Option<String>, i64)> = None;
    loop {
        let inspect = engine.inspect(id).await.map_err(|e| e.to_string())?;
        let state = inspect.state.clone().unwrap_or_default();
        let restarts = inspect.restart_count.unwrap_or(0);
        let started_at = state.started_at.clone();
        let baseline = first.get_or_insert((started_at.clone(), restarts));
        if !state.running.unwrap_or(false) || state.restarting.unwrap_or(false) {
            return Err(format!(
                "the new container stopped (exit code {}{})",
                state.exit_code.unwrap_or(-1),
                state
                    .error
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        if restarts > baseline.1 || started_at != baseline.0 {
            return Err("the new container restarted".into());
        }
        let health = state.health.as_ref().and_then(|h| h.status);
        match health {
            Some(HealthStatusEnum::HEALTHY) => return Ok(()),
            Some(HealthStatusEnum::UNHEALTHY) => {
                let last = state
                    .health
                    .and_then(|h| h.log)
                    .and_then(|log| log.last().cloned())
                    .map(|r| {
                        format!(
                            " (last check: exit {}{})",
                            r.exit_code.unwrap_or(-1),
                            r.output
                                .map(|o| o.trim().to_string())
                                .filter(|o| !o.is_empty())
                                .map(|o| format!(", {o}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                return Err(format!("the new container is unhealthy{last}"));
            }
            Some(HealthStatusEnum::STARTING) => {
                if start.elapsed() >= gate.health_timeout {
                    return Err(format!(
                        "the new container was not healthy within {:?}",
                        gate.health_timeout
                    ));
                }
            }
            _ => {
                if start.elapsed() >= gate.settle {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
