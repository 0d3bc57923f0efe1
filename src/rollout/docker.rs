//! The Docker Engine edge: connect with version negotiation, find a project's containers by
//! compose labels, inspect, pull with deckhand's registry credentials. Nothing here decides.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{ContainerInspectResponse, ImageInspect};
use bollard::query_parameters::{CreateImageOptions, ListContainersOptions};
use futures_util::StreamExt;

use super::plan::{LABEL_ONEOFF, LABEL_PROJECT, LABEL_REPLACE, LABEL_SERVICE, Observed};
use crate::registry::Credentials;

/// Requests to the engine may take this long (a stop honours grace periods of minutes; a pull
/// streams for as long as the layers take).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// A failure talking to the Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine cannot be reached (or its version not read).
    #[error("cannot reach the Docker engine at {endpoint}: {source}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// Why.
        source: bollard::errors::Error,
    },
    /// An API call failed.
    #[error("{action} {subject}: {}", message(source))]
    Api {
        /// What was being done (`inspect container`, `stop container`, …).
        action: &'static str,
        /// The container, image or network concerned.
        subject: String,
        /// Why.
        source: bollard::errors::Error,
    },
    /// A pull failed (the registry refused, the tag does not exist, …).
    #[error("cannot pull {image}: {message}")]
    Pull {
        /// The image.
        image: String,
        /// What the engine said.
        message: String,
    },
}

/// The engine's message without bollard's wrapping, when there is one.
fn message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Progress of a pull, as the engine streams it. The library reports it here; the binary draws
/// a progress bar on a terminal, or logs.
pub trait PullProgress: Send + Sync {
    /// One status line for a layer (`Downloading`, `Pull complete`, …) with byte counts when
    /// the engine gives them.
    fn update(&self, image: &str, layer: Option<&str>, status: &str, current: u64, total: u64);
    /// The pull ended (successfully or not).
    fn finish(&self, image: &str);
}

/// Progress as `tracing` events: a debug line per layer step, nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogProgress;

impl PullProgress for LogProgress {
    fn update(&self, image: &str, layer: Option<&str>, status: &str, current: u64, total: u64) {
        // Byte-count updates arrive many times a second; only the steps are worth a line.
        if current == 0 || total == 0 {
            tracing::debug!(image, layer = layer.unwrap_or(""), "{status}");
        }
    }

    fn finish(&self, _image: &str) {}
}

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    endpoint: String,
    api: (usize, usize),
}

impl Engine {
    /// Connects to `endpoint` (`unix://…`, `tcp://…`), or to `DOCKER_HOST`, then the local
    /// socket, and negotiates the API version (engines ≥ 25 refuse below 1.44, 20.10 above 1.41).
    ///
    /// # Errors
    ///
    /// [`DockerError::Connect`] naming the endpoint.
    pub async fn connect(endpoint: Option<&str>) -> Result<Engine, DockerError> {
        let shown = endpoint.map_or_else(
            || {
                std::env::var("DOCKER_HOST")
                    .unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
            },
            str::to_string,
        );
        let err = |source| DockerError::Connect {
            endpoint: shown.clone(),
            source,
        };
        let docker = match endpoint {
            Some(e) => Docker::connect_with_host(e),
            None => Docker::connect_with_defaults(),
        }
        .map_err(err)?
        .with_timeout(REQUEST_TIMEOUT);
        let docker = docker.negotiate_version().await.map_err(err)?;
        let v = docker.client_version();
        let api = (v.major_version, v.minor_version);
        tracing::debug!(endpoint = %shown, api = %format!("{}.{}", api.0, api.1), "connected to the Docker engine");
        Ok(Engine {
            docker,
            endpoint: shown,
            api,
        })
    }

    /// The bollard client.
    #[must_use]
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The endpoint, for messages.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The negotiated API version.
    #[must_use]
    pub fn api_version(&self) -> (usize, usize) {
        self.api
    }

    /// Every container (running or not) labelled with `project`, inspected. Containers without
    /// compose's project and service labels are never returned, so never touched.
    ///
    /// # Errors
    ///
    /// A failed list call. A container that disappears between list and inspect is skipped.
    pub async fn project_containers(
        &self,
        project: &str,
    ) -> Result<Vec<(Observed, ContainerInspectResponse)>, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={project}")],
        )]);
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|source| DockerError::Api {
                action: "list the containers of project",
                subject: project.to_string(),
                source,
            })?;
        let mut out = Vec::with_capacity(list.len());
        for summary in list {
            let Some(id) = summary.id else { continue };
            let inspect = match self.docker.inspect_container(&id, None).await {
                Ok(i) => i,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => continue,
                Err(source) => {
                    return Err(DockerError::Api {
                        action: "inspect container",
                        subject: id,
                        source,
                    });
                }
            };
            if let Some(observed) = observe(&inspect) {
                out.push((observed, inspect));
            }
        }
        Ok(out)
    }

    /// Inspects a container.
    ///
    /// # Errors
    ///
    /// [`DockerError::Api`] naming the container.
    pub async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, DockerError> {
        self.docker
            .inspect_container(id, None)
            .await
            .map_err(|source| DockerError::Api {
                action: "inspect container",
                subject: id.to_string(),
                source,
            })
    }

    /// Inspects an image; `None` when it is gone.
    ///
    /// # Errors
    ///
    /// Any failure but "no such image".
    pub async fn inspect_image(&self, image: &str) -> Result<Option<ImageInspect>, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(i)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(DockerError::Api {
                action: "inspect image",
                subject: image.to_string(),
                source,
            }),
        }
    }

    /// Pulls `image` with `credentials`, draining the engine's progress stream into `progress`.
    ///
    /// # Errors
    ///
    /// [`DockerError::Pull`] with the engine's message (unknown tag, refused credentials, …).
    pub async fn pull(
        &self,
        image: &str,
        credentials: Option<&Credentials>,
        progress: &dyn PullProgress,
    ) -> Result<(), DockerError> {
        let (name, tag) = split_reference(image);
        let options = CreateImageOptions {
            from_image: Some(name.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let auth = credentials.map(|c| docker_credentials(c, registry_host(name)));
        let mut stream = self.docker.create_image(Some(options), None, auth);
        let mut result = Ok(());
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let (current, total) = info.progress_detail.as_ref().map_or((0, 0), |d| {
                        (
                            d.current.map_or(0, |c| u64::try_from(c).unwrap_or(0)),
                            d.total.map_or(0, |t| u64::try_from(t).unwrap_or(0)),
                        )
                    });
                    if let Some(status) = &info.status {
                        progress.update(image, info.id.as_deref(), status, current, total);
                    }
                }
                Err(e) => {
                    result = Err(DockerError::Pull {
                        image: image.to_string(),
                        message: message(&e),
                    });
                    break;
                }
            }
        }
        progress.finish(image);
        result
    }
}

/// The compose view of an inspected container; `None` without compose's labels.
#[must_use]
pub fn observe(inspect: &ContainerInspectResponse) -> Option<Observed> {
    let config = inspect.config.as_ref()?;
    let labels = config.labels.as_ref()?;
    labels.get(LABEL_PROJECT)?;
    let service = labels.get(LABEL_SERVICE)?.clone();
    Some(Observed {
        id: inspect.id.clone()?,
        name: inspect
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        service,
        image: config.image.clone().unwrap_or_default(),
        running: inspect
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false),
        oneoff: labels
            .get(LABEL_ONEOFF)
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        replaces: labels.get(LABEL_REPLACE).cloned(),
    })
}

/// `name[:tag]` or `name@digest` → (name, tag or digest); no tag means `latest`, as docker pull.
#[must_use]
pub fn split_reference(image: &str) -> (&str, &str) {
    let image = image.trim();
    if let Some((name, digest)) = image.split_once('@') {
        // `name:tag@digest`: the digest decides what is pulled.
        let name = match name.rfind(':') {
            Some(i) if !name[i..].contains('/') => &name[..i],
            _ => name,
        };
        return (name, digest);
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// The registry host of an image name (`docker.io` for Docker Hub names).
#[must_use]
pub fn registry_host(name: &str) -> &str {
    match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

fn docker_credentials(credentials: &Credentials, host: &str) -> DockerCredentials {
    match credentials {
        Credentials::Basic { username, password } => DockerCredentials {
            username: Some(username.clone()),
            password: Some(password.expose().to_string()),
            serveraddress: Some(host.to_string()),
            ..Default::default()
        },
        Credentials::IdentityToken(token) => DockerCredentials {
            identitytoken: Some(token.expose().to_string()),
            serveraddress: Some(host.to_string()),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_as_docker_pull_does() {
        #[rustfmt::skip]
        let cases = [
            ("nginx",                        ("nginx", "latest"),                    "docker.io"),
            ("nginx:1.25",                   ("nginx", "1.25"),                      "docker.io"),
            ("127.0.0.1:5000/app",           ("127.0.0.1:5000/app", "latest"),       "127.0.0.1:5000"),
            ("127.0.0.1:5000/a/b:v2",        ("127.0.0.1:5000/a/b", "v2"),           "127.0.0.1:5000"),
            ("reg.lan/app@sha256:ab",        ("reg.lan/app", "sha256:ab"),           "reg.lan"),
            ("reg.lan/app:1@sha256:ab",      ("reg.lan/app", "sha256:ab"),           "reg.lan"),
            ("localhost/app:1",              ("localhost/app", "1"),                 "localhost"),
            ("bitnami/redis",                ("bitnami/redis", "latest"),            "docker.io"),
        ];
        for (input, want, host) in cases {
            assert_eq!(split_reference(input), want, "{input}");
            assert_eq!(registry_host(want.0), host, "{input}");
        }
    }
}
