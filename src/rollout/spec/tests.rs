//! The replacement spec from a real `docker inspect` of a container that Debian's docker-compose
//! 1.29 made on Docker 20.10 (two user networks, one with an alias, one with a static address; a
//! named volume; an anonymous volume from the image's `VOLUME`; a port; env; labels; a stop grace
//! period; an added capability), and its image.

use bollard::models::{ContainerInspectResponse, ImageInspect};

use super::*;

const CONTAINER: &str = include_str!("compose-v1-container.json");
const IMAGE: &str = include_str!("compose-v1-image.json");

fn fixture() -> (ContainerInspectResponse, ImageInspect) {
    (
        serde_json::from_str(CONTAINER).unwrap(),
        serde_json::from_str(IMAGE).unwrap(),
    )
}

#[test]
fn only_the_image_changes_and_image_defaults_are_left_to_the_new_image() {
    let (old, image) = fixture();
    let spec = replacement(
        &old,
        image.config.as_ref(),
        image.config.as_ref(),
        "dhfixture/app:v2",
        (1, 41),
    );
    let body = &spec.body;
    assert_eq!(body.image.as_deref(), Some("dhfixture/app:v2"));
    // Set by compose: kept. From the old image: left to the new one.
    assert_eq!(
        body.env.as_deref(),
        Some(&["GREETING=hello".to_string()][..])
    );
    assert_eq!(body.cmd, None);
    assert_eq!(body.healthcheck, None);
    assert_eq!(body.exposed_ports, None, "EXPOSE comes from the image");
    assert_eq!(
        body.volumes.as_deref(),
        Some(&["/data".to_string()][..]),
        "compose's volume kept, the image's VOLUME /cache left to the image"
    );
    assert_eq!(
        body.hostname, None,
        "the default hostname is the old short id"
    );
    assert_eq!(body.stop_timeout, Some(30), "stop_grace_period stays");
    let labels = body.labels.as_ref().unwrap();
    for key in [
        "com.docker.compose.project",
        "com.docker.compose.service",
        "com.docker.compose.config-hash",
        "com.docker.compose.container-number",
        "com.docker.compose.oneoff",
        "com.docker.compose.project.working_dir",
        "com.docker.compose.project.config_files",
        "com.docker.compose.version",
    ] {
        assert!(labels.contains_key(key), "{key} kept");
    }
    assert!(
        !labels.contains_key("org.example.image"),
        "image label left to the image"
    );
    // Set on the service with the same value as the image's label, and the new image has it too:
    // the new image supplies it.
    assert!(!labels.contains_key("deckhand.test"));
    assert_eq!(
        labels.get(LABEL_REPLACE),
        old.id.as_ref(),
        "marks what it replaces"
    );
    assert_eq!(
        labels.get(LABEL_CONFIG_HASH).map(String::as_str),
        Some(""),
        "compose must not take the replacement for the old configuration"
    );

    let host = body.host_config.as_ref().unwrap();
    let old_host = old.host_config.as_ref().unwrap();
    assert_eq!(host.port_bindings, old_host.port_bindings);
    assert_eq!(host.restart_policy, old_host.restart_policy);
    assert_eq!(
        host.cap_add.as_deref(),
        Some(&["NET_ADMIN".to_string()][..])
    );
    assert_eq!(host.log_config, old_host.log_config);
    assert_eq!(host.network_mode.as_deref(), Some("dhfixture_back"));
    let binds = host.binds.as_ref().unwrap();
    assert!(
        binds.contains(&"dhfixture_data:/data:rw".to_string()),
        "{binds:?}"
    );
    assert!(
        binds.iter().any(|b| b.ends_with(":/cache") && b.len() > 64),
        "the anonymous volume is carried over: {binds:?}"
    );
    assert_eq!(binds.len(), 2, "{binds:?}");
}

#[test]
fn networks_keep_aliases_and_static_addresses_below_and_above_api_1_44() {
    let (old, image) = fixture();
    let short = &old.id.as_deref().unwrap()[..12];

    let spec = replacement(
        &old,
        image.config.as_ref(),
        image.config.as_ref(),
        "x",
        (1, 41),
    );
    let at_create = spec
        .body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap();
    assert_eq!(at_create.len(), 1, "one network at create below 1.44");
    let back = at_create
        .get("dhfixture_back")
        .expect("the network mode's network first");
    assert_eq!(
        back.ipam_config
            .as_ref()
            .and_then(|c| c.ipv4_address.as_deref()),
        Some("172.31.250.10")
    );
    assert_eq!(back.aliases.as_deref(), Some(&["web".to_string()][..]));
    assert_eq!(back.ip_address, None, "run-time values are not copied");
    assert_eq!(back.mac_address, None);
    assert_eq!(spec.extra_networks.len(), 1);
    let (name, front) = &spec.extra_networks[0];
    assert_eq!(name, "dhfixture_front");
    let aliases = front.aliases.clone().unwrap();
    assert_eq!(aliases, ["webalias", "web"]);
    assert!(
        !aliases.iter().any(|a| a == short),
        "the old short id is not an alias"
    );

    let spec = replacement(
        &old,
        image.config.as_ref(),
        image.config.as_ref(),
        "x",
        (1, 44),
    );
    let at_create = spec
        .body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap();
    assert_eq!(at_create.len(), 2, "every network at create from 1.44");
    assert!(spec.extra_networks.is_empty());
}

#[test]
fn defaults_the_new_image_drops_are_kept() {
    let (old, image) = fixture();
    let mut new = image.config.clone().unwrap();
    new.labels = None;
    new.env = Some(vec!["PATH=/usr/bin".into()]);
    let spec = replacement(&old, image.config.as_ref(), Some(&new), "x", (1, 41));
    let labels = spec.body.labels.unwrap();
    assert_eq!(
        labels.get("deckhand.test").map(String::as_str),
        Some("fixture")
    );
    assert_eq!(
        labels.get("org.example.image").map(String::as_str),
        Some("yes")
    );
    // PATH is redefined by the new image; APP_VERSION is not, so the old value stays.
    assert_eq!(spec.body.env.unwrap(), ["GREETING=hello", "APP_VERSION=v1"]);
}

#[test]
fn without_the_old_image_everything_is_kept() {
    let (old, _) = fixture();
    let spec = replacement(&old, None, None, "x", (1, 41));
    assert_eq!(spec.body.env, old.config.as_ref().unwrap().env);
    assert_eq!(spec.body.cmd, old.config.as_ref().unwrap().cmd);
}

#[test]
fn host_and_container_network_modes_give_no_endpoints_and_links_are_rewritten() {
    let (mut old, image) = fixture();
    let host = old.host_config.as_mut().unwrap();
    host.network_mode = Some("container:abc".into());
    host.links = Some(vec!["/dhfixture_db_1:/dhfixture_web_1/db".into()]);
    let spec = replacement(
        &old,
        image.config.as_ref(),
        image.config.as_ref(),
        "x",
        (1, 41),
    );
    assert_eq!(spec.body.networking_config, None);
    assert!(spec.extra_networks.is_empty());
    assert_eq!(
        spec.body.host_config.unwrap().links.unwrap(),
        ["dhfixture_db_1:db"]
    );
}
