//! Test support: real components started by the tests themselves.

pub mod bin;
pub mod daemon;
pub mod docker;
pub mod git;
pub mod harbor;
pub mod http_git;
pub mod instance;
pub mod registry;
pub mod remote;
pub mod sshd;

use registry::{Mode, RegistryServer, retag_many};

/// Starts a no-auth registry on `rt` and pushes, per repository, one image under the first tag and
/// the same manifest under the others.
pub fn registry_with(rt: &tokio::runtime::Runtime, repos: &[(&str, &[&str])]) -> RegistryServer {
    rt.block_on(async {
        let registry = RegistryServer::start(Mode::NoAuth).await;
        for (repo, tags) in repos {
            let (first, rest) = tags.split_first().expect("at least one tag");
            registry.push(repo, first).await;
            let rest: Vec<String> = rest.iter().map(|t| (*t).to_string()).collect();
            let auth = registry.push_auth(repo).await;
            retag_many(&registry.base_url(), repo, first, &rest, &auth).await;
        }
        registry
    })
}
