//! OCI distribution registry client: tags and digests of image repositories.
//!
//! One [`RegistryClient`] per registry host holds one connection pool, probes `GET /v2/` once,
//! learns the auth scheme from its challenge (anonymous, `Basic`, or `Bearer` tokens from a
//! token service, cached per scope set), bounds requests in flight, and retries 429/5xx and
//! transport errors with a bounded backoff.
//!
//! ```no_run
//! # async fn demo() -> Result<(), deckhand::registry::RegistryError> {
//! use deckhand::registry::{ImageRef, RegistryClient, RegistryOptions};
//!
//! let image = ImageRef::parse("192.168.0.40:5000/homelab/web")?;
//! let options = RegistryOptions { insecure: true, ..RegistryOptions::default() };
//! let client = RegistryClient::new(&image.registry, options)?;
//! let tags = client.list_tags(&image.repository).await?;
//! let digest = client.digest(&image.repository, &tags[0]).await?;
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod digest;
mod error;
mod harbor;
mod reference;
mod tags;

pub(crate) use client::docker_config_credentials;
pub use client::{Credentials, RegistryClient, RegistryOptions, install_crypto_provider};
pub use error::RegistryError;
pub use harbor::{Listing, artifact_path};
pub use reference::{DOCKER_HUB, DOCKER_HUB_API, ImageRef};
