//! The replacement container's configuration: the old container's, with only the image
//! changed. Pure: built from the old container's inspect output and its image's defaults.
//!
//! `docker inspect` shows a container's configuration merged with its image's defaults (`ENV`,
//! `CMD`, labels, `EXPOSE`, `VOLUME`, `HEALTHCHECK`, …). Copying those verbatim would pin the old
//! image's defaults onto the new image (a new `ENV APP_VERSION=2` would stay `1`), so values equal
//! to the old image's are left for the new image to supply. An env variable or label equal to the
//! old image's is kept when the new image does not define it at all: it may have been set on the
//! container on purpose (a `traefik.enable=true` label), and losing it would break more than
//! keeping a stale default. Everything else set on the container (by compose or by hand) is kept.

use std::collections::HashMap;

use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig,
    ImageConfig, NetworkingConfig,
};

use super::plan::{LABEL_REPLACE, short_id};

/// Compose's hash of the service configuration a container was created from.
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";

/// What to create, and the networks to connect before the first start.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The create body.
    pub body: ContainerCreateBody,
    /// Networks beyond the first (below API 1.44 only one network can be given at create).
    pub extra_networks: Vec<(String, EndpointSettings)>,
}

/// API version from which several networks may be given at create.
const MULTI_NETWORK_API: (usize, usize) = (1, 44);

/// Builds the replacement of `old` running `image`. `old_image` is the configuration of the
/// image `old` was created from (`None` when it is gone: then every value is kept), `new_image`
/// that of `image`.
#[must_use]
pub fn replacement(
    old: &ContainerInspectResponse,
    old_image: Option<&ImageConfig>,
    new_image: Option<&ImageConfig>,
    image: &str,
    api: (usize, usize),
) -> Spec {
    let id = old.id.clone().unwrap_or_default();
    let config = old.config.clone().unwrap_or_default();
    let defaults = old_image.cloned().unwrap_or_default();
    let new_defaults = new_image.cloned().unwrap_or_default();
    let host_config = old.host_config.clone().map(|h| host(h, old));
    let (networking_config, extra_networks) = networks(old, &id, api);

    let ContainerConfig {
        hostname,
        domainname,
        user,
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports,
        tty,
        open_stdin,
        stdin_once,
        env,
        cmd,
        healthcheck,
        args_escaped,
        image: _,
        volumes,
        working_dir,
        entrypoint,
        network_disabled,
        on_build,
        labels,
        stop_signal,
        stop_timeout,
        shell,
    } = config;

    let mut labels = without_defaults_map(
        labels,
        defaults.labels.as_ref(),
        new_defaults.labels.as_ref(),
    )
    .unwrap_or_default();
    labels.insert(LABEL_REPLACE.to_string(), id.clone());
    // The hash describes the configuration compose created the old container from. Kept, it would
    // make compose take the replacement for that configuration: a file reverted to the old image
    // would look up to date while the new one runs. Emptied, compose recreates the container on
    // its next `up -d`, whatever the file says.
    if let Some(hash) = labels.get_mut(LABEL_CONFIG_HASH) {
        hash.clear();
    }

    let body = ContainerCreateBody {
        // Docker's default hostname is the short id; the replacement gets its own.
        hostname: hostname.filter(|h| h != short_id(&id)),
        domainname,
        user: unless_default(user, defaults.user.as_ref()),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: without_defaults(exposed_ports, defaults.exposed_ports.as_ref()),
        tty,
        open_stdin,
        stdin_once,
        env: without_default_env(env, defaults.env.as_ref(), new_defaults.env.as_ref()),
        cmd: unless_default(cmd, defaults.cmd.as_ref()),
        healthcheck: unless_default(healthcheck, defaults.healthcheck.as_ref()),
        args_escaped: unless_default(args_escaped, defaults.args_escaped.as_ref()),
        image: Some(image.trim().to_string()),
        volumes: without_defaults(volumes, defaults.volumes.as_ref()),
        working_dir: unless_default(working_dir, defaults.working_dir.as_ref()),
        entrypoint: unless_default(entrypoint, defaults.entrypoint.as_ref()),
        network_disabled,
        on_build: unless_default(on_build, defaults.on_build.as_ref()),
        labels: Some(labels),
        stop_signal: unless_default(stop_signal, defaults.stop_signal.as_ref()),
        stop_timeout,
        shell: unless_default(shell, defaults.shell.as_ref()),
        host_config,
        networking_config,
    };
    Spec {
        body,
        extra_networks,
    }
}

fn unless_default<T: PartialEq>(value: Option<T>, default: Option<&T>) -> Option<T> {
    match (value, default) {
        (Some(v), Some(d)) if &v == d => None,
        (v, _) => v,
    }
}

/// The entries of `values` that the image did not supply.
fn without_defaults(
    values: Option<Vec<String>>,
    defaults: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let values = values?;
    let Some(defaults) = defaults else {
        return Some(values);
    };
    let kept: Vec<String> = values
        .into_iter()
        .filter(|v| !defaults.contains(v))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Env entries without those the old image supplied and the new image defines again.
fn without_default_env(
    values: Option<Vec<String>>,
    defaults: Option<&Vec<String>>,
    new_defaults: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let values = values?;
    let Some(defaults) = defaults else {
        return Some(values);
    };
    let name = |entry: &str| entry.split_once('=').map_or(entry, |(n, _)| n).to_string();
    let redefined: Vec<String> = new_defaults
        .map(|n| n.iter().map(|e| name(e)).collect())
        .unwrap_or_default();
    let kept: Vec<String> = values
        .into_iter()
        .filter(|v| !(defaults.contains(v) && redefined.contains(&name(v))))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Labels without those the old image supplied and the new image defines again.
fn without_defaults_map(
    values: Option<HashMap<String, String>>,
    defaults: Option<&HashMap<String, String>>,
    new_defaults: Option<&HashMap<String, String>>,
) -> Option<HashMap<String, String>> {
    let mut values = values?;
    if let Some(defaults) = defaults {
        values.retain(|k, v| {
            defaults.get(k) != Some(v) || !new_defaults.is_some_and(|n| n.contains_key(k))
        });
    }
    Some(values)
}

/// The old host config, with anonymous volumes carried over (as compose does, so their data
/// stays) and legacy links turned back into `name:alias`.
fn host(mut h: HostConfig, old: &ContainerInspectResponse) -> HostConfig {
    let mut binds = h.binds.take().unwrap_or_default();
    let bound = |dest: &str, binds: &[String], h: &HostConfig| {
        binds.iter().any(|b| b.split(':').nth(1) == Some(dest))
            || h.mounts
                .as_ref()
                .is_some_and(|m| m.iter().any(|m| m.target.as_deref() == Some(dest)))
            || h.tmpfs.as_ref().is_some_and(|t| t.contains_key(dest))
    };
    for m in old.mounts.iter().flatten() {
        if m.typ.as_deref() != Some("volume") {
            continue;
        }
        let (Some(name), Some(dest)) = (&m.name, &m.destination) else {
            continue;
        };
        if bound(dest, &binds, &h) {
            continue;
        }
        let mode = if m.rw == Some(false) { ":ro" } else { "" };
        binds.push(format!("{name}:{dest}{mode}"));
    }
    h.binds = (!binds.is_empty()).then_some(binds);
    // Inspect shows links as `/target:/this/alias`; create wants `target:alias`.
    h.links = h.links.map(|links| {
        links
            .into_iter()
            .map(|l| match l.split_once(':') {
                Some((target, alias)) if target.starts_with('/') => format!(
                    "{}:{}",
                    target.trim_start_matches('/'),
                    alias.rsplit('/').next().unwrap_or(alias)
                ),
                _ => l,
            })
            .collect()
    });
    h
}

/// The endpoints to give at create, and those to connect afterwards.
fn networks(
    old: &ContainerInspectResponse,
    id: &str,
    api: (usize, usize),
) -> (Option<NetworkingConfig>, Vec<(String, EndpointSettings)>) {
    let mode = old
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    // host, none, container:<id>: the network mode says it all.
    if mode == "host" || mode == "none" || mode.starts_with("container:") {
        return (None, Vec::new());
    }
    let Some(networks) = old
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
    else {
        return (None, Vec::new());
    };
    let mut endpoints: Vec<(String, EndpointSettings)> = networks
        .into_iter()
        .map(|(name, e)| {
            let endpoint = endpoint(&name, e, id);
            (name, endpoint)
        })
        .collect();
    // The network of the network mode first (it is the one given at create), then by name.
    let primary = if mode == "default" {
        "bridge"
    } else {
        mode.as_str()
    };
    endpoints.sort_by(|(a, _), (b, _)| (a != primary, a).cmp(&(b != primary, b)));
    if api >= MULTI_NETWORK_API {
        let all = endpoints.into_iter().collect();
        return (
            Some(NetworkingConfig {
                endpoints_config: Some(all),
            }),
            Vec::new(),
        );
    }
    let mut rest = endpoints.into_iter();
    let first = rest.next();
    (
        first.map(|(name, e)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(name, e)])),
        }),
        rest.collect(),
    )
}

/// What the old endpoint was configured with (aliases, static addresses, links, driver
/// options), without what the engine filled in at run time.
fn endpoint(network: &str, e: EndpointSettings, id: &str) -> EndpointSettings {
    // The engine adds the short id as an alias on user networks; the new container gets its own.
    let aliases = e
        .aliases
        .map(|a| {
            a.into_iter()
                .filter(|alias| alias != short_id(id) && alias != id)
                .collect::<Vec<_>>()
        })
        .filter(|a| !a.is_empty());
    let builtin = matches!(network, "bridge" | "host" | "none");
    EndpointSettings {
        ipam_config: e.ipam_config,
        links: e.links,
        aliases: if builtin { None } else { aliases },
        driver_opts: e.driver_opts,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
