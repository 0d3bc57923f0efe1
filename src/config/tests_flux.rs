//! Flux objects as configuration: every mapped field, every warning, and the errors.

use std::path::Path;
use std::time::Duration;

use super::{Config, ConfigError, DigestReflection, load};
use crate::policy::{Order, Rule};
use crate::registry::Credentials;

/// A temp dir holding `deckhand.yaml` and `files`; the dir is a git work tree (for update.path).
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(config: &str, files: &[(&str, &str)]) -> Dir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".git")).expect(".git");
        std::fs::write(dir.path().join("deckhand.yaml"), config).expect("write");
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }
        Dir { dir }
    }

    fn load(&self) -> Result<Config, Vec<ConfigError>> {
        load(&self.dir.path().join("deckhand.yaml")).map_err(|e| e.0)
    }

    fn ok(&self) -> Config {
        self.load()
            .unwrap_or_else(|e| panic!("expected a valid config: {e:#?}"))
    }

    fn errors(&self) -> Vec<String> {
        match self.load() {
            Ok(c) => panic!("expected errors, got {c:#?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }
}

fn has(errors: &[String], needles: &[&str]) -> bool {
    errors.iter().any(|e| needles.iter().all(|n| e.contains(n)))
}

const INCLUDE: &str = "include: [./flux]\n";

const REPO: &str = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: web
  namespace: flux-system
spec:
  image: 192.168.0.40:5000/homelab/web
  interval: 2m
  insecure: true
  exclusionList: ['^.*\\.sig$', '^latest$']
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: api
  namespace: apps
spec:
  image: ghcr.io/acme/api
  interval: 5m
  timeout: 20s
";

const POLICY: &str = "\
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImagePolicy
metadata:
  name: web
  namespace: flux-system
  labels: {team: web}
spec:
  imageRepositoryRef:
    name: web
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]{10})$'
    extract: '$ts'
  policy:
    numerical:
      order: asc
  digestReflectionPolicy: IfNotPresent
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: api
  namespace: apps
spec:
  imageRepositoryRef:
    name: api
  policy:
    semver:
      range: '>=1.0.0'
  suspend: true
";

#[test]
fn repositories_and_policies_map_every_field() {
    let d = Dir::new(
        INCLUDE,
        &[("flux/repos.yaml", REPO), ("flux/policies.yml", POLICY)],
    );
    let c = d.ok();
    let web = &c.repositories["web"];
    assert_eq!(web.namespace, "flux-system");
    assert_eq!(web.image, "192.168.0.40:5000/homelab/web");
    assert_eq!(web.interval, Duration::from_secs(120));
    // Flux: timeout defaults to the interval.
    assert_eq!(web.timeout, Duration::from_secs(120));
    assert_eq!(web.exclusions.len(), 2);
    assert!(web.origin.flux);
    assert_eq!(web.origin.key, "ImageRepository flux-system/web");
    assert!(c.registries["192.168.0.40:5000"].insecure);
    // Another namespace: keyed namespace/name.
    let api = &c.repositories["apps/api"];
    assert_eq!(api.timeout, Duration::from_secs(20));
    assert_eq!(api.namespace, "apps");

    let p = &c.policies["web"];
    assert_eq!(p.repository, "web");
    assert!(matches!(p.policy.rule, Rule::Numerical(Order::Asc)));
    assert_eq!(p.policy.filter.as_ref().unwrap().extract(), "$ts");
    assert_eq!(p.digest_reflection, DigestReflection::IfNotPresent);
    assert_eq!(p.labels["team"], "web");
    assert_eq!(c.find_policy("flux-system", "web").unwrap().name, "web");
    let api = c.find_policy("apps", "api").expect("apps:api");
    assert_eq!(api.repository, "apps/api");
    assert!(api.suspended);
    assert!(c.out_of_scope(api).unwrap().contains("suspended"));
    assert!(c.find_policy("flux-system", "api").is_none());
}

#[test]
fn directories_follow_kustomization_resources_and_namespace() {
    let d = Dir::new(
        INCLUDE,
        &[
            (
                "flux/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: team-a\nresources:\n  - sub\n  - https://example.org/remote.yaml\n",
            ),
            ("flux/sub/kustomization.yaml", "resources: [repo.yaml]\n"),
            (
                "flux/sub/repo.yaml",
                "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: nginx, interval: 1m}\n",
            ),
            // Not listed in resources: not read.
            (
                "flux/sub/ignored.yaml",
                "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: other}\nspec: {image: nginx}\n",
            ),
        ],
    );
    let c = d.ok();
    assert_eq!(c.repositories.len(), 1);
    assert_eq!(c.repositories["team-a/web"].namespace, "team-a");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.message.contains("remote") && w.message.contains("example.org")),
        "{:?}",
        c.warnings
    );
    // Without a namespace anywhere, deckhand.yaml's `namespace` applies.
    let d = Dir::new(
        "namespace: homelab\ninclude: [./r.yaml]\n",
        &[(
            "r.yaml",
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: nginx}\n",
        )],
    );
    assert_eq!(d.ok().repositories["web"].namespace, "homelab");
}

#[test]
fn fields_without_meaning_here_are_warnings_saying_what_happens_instead() {
    let repo = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: web, namespace: flux-system}
spec:
  image: 123456789.dkr.ecr.eu-west-1.amazonaws.com/web
  interval: 1m
  provider: aws
  serviceAccountName: image-reflector
  accessFrom: {namespaceSelectors: [{matchLabels: {a: b}}]}
  proxySecretRef: {name: proxy}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto, namespace: flux-system}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: flux-system}
  git:
    checkout: {ref: {branch: main, tag: v1}}
    commit:
      author: {email: bot@example.org}
      signingKey: {secretRef: {name: gpg}}
    push: {branch: main, refspec: 'refs/heads/main:refs/heads/auto', options: {ci.skip: ''}}
";
    let d = Dir::new(INCLUDE, &[("flux/all.yaml", repo)]);
    let c = d.ok();
    let keys: Vec<&str> = c.warnings.iter().map(|w| w.key.as_str()).collect();
    for (key, needle) in [
        (
            "ImageRepository flux-system/web spec.provider",
            "credentials",
        ),
        (
            "ImageRepository flux-system/web spec.serviceAccountName",
            "no service accounts",
        ),
        (
            "ImageRepository flux-system/web spec.accessFrom",
            "every policy",
        ),
        (
            "ImageRepository flux-system/web spec.proxySecretRef",
            "HTTPS_PROXY",
        ),
        (
            "ImageUpdateAutomation flux-system/auto spec.sourceRef",
            "git checkout",
        ),
        (
            "ImageUpdateAutomation flux-system/auto spec.git.checkout.ref.tag",
            "branch",
        ),
        (
            "ImageUpdateAutomation flux-system/auto spec.git.commit.signingKey",
            "unsigned",
        ),
        (
            "ImageUpdateAutomation flux-system/auto spec.git.push.refspec",
            "refspec",
        ),
        (
            "ImageUpdateAutomation flux-system/auto spec.git.push.options",
            "not sent",
        ),
    ] {
        let w = c
            .warnings
            .iter()
            .find(|w| w.key == key)
            .unwrap_or_else(|| panic!("no warning for {key}: {keys:?}"));
        assert!(w.message.contains(needle), "{w}");
        assert!(w.file.ends_with("flux/all.yaml"));
    }
    // provider: generic is Flux's default and no warning.
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/r.yaml",
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: nginx, provider: generic}\n",
        )],
    );
    assert!(d.ok().warnings.is_empty());
}

const AUTOMATION: &str = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: flux-system}
  git:
    checkout: {ref: {branch: master}}
    commit:
      author: {name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}
      messageTemplate: 'Update {{ .AutomationObject }} for {{ .Values.cluster }}'
      messageTemplateValues: {cluster: prod}
    push: {branch: auto-updates}
  update: {path: ./clusters/production, strategy: Setters}
  policySelector:
    matchLabels: {team: web}
    matchExpressions:
      - {key: tier, operator: NotIn, values: [experimental]}
";

#[test]
fn the_automation_sets_git_update_path_scope_and_template() {
    let d = Dir::new(
        "include: [./flux]\n",
        &[
            ("flux/auto.yaml", AUTOMATION),
            ("flux/policies.yaml", POLICY),
            ("flux/repos.yaml", REPO),
            (
                "flux/other.yaml",
                "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: unlabelled, namespace: flux-system}\nspec: {imageRepositoryRef: {name: web}, policy: {alphabetical: {}}}\n",
            ),
        ],
    );
    let c = d.ok();
    assert_eq!(c.git.branch.as_deref(), Some("master"));
    assert_eq!(c.git.author.name, "fluxcdbot");
    assert_eq!(c.git.author.email, "fluxcdbot@users.noreply.github.com");
    let push = c.git.push.as_ref().expect("push");
    assert_eq!(
        (push.remote.as_str(), push.branch.as_deref()),
        ("origin", Some("auto-updates"))
    );
    // update.path is relative to the repository root.
    assert_eq!(c.update_path, d.dir.path().join("./clusters/production"));
    let a = c.automation.as_ref().expect("automation");
    assert_eq!(
        (a.namespace.as_str(), a.name.as_str()),
        ("flux-system", "flux-system")
    );
    assert_eq!(a.interval, Some(Duration::from_secs(60)));
    assert!(!a.suspended);
    let t = a.message_template.as_ref().expect("template");
    let data = crate::template::flux_data(&a.namespace, &a.name, &[], &a.message_template_values);
    assert_eq!(
        t.render(&data).unwrap(),
        "Update flux-system/flux-system for prod"
    );
    // The selector: labelled web policy in scope, others not; other namespaces never.
    assert_eq!(c.out_of_scope(&c.policies["web"]), None);
    assert!(
        c.out_of_scope(&c.policies["unlabelled"])
            .unwrap()
            .contains("policySelector")
    );
}

#[test]
fn selector_expressions_and_other_namespaces() {
    use super::{LabelSelector, SelectorExpression};
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let s = LabelSelector {
        match_labels: labels(&[("team", "web")]),
        match_expressions: vec![
            SelectorExpression::NotIn("tier".into(), vec!["experimental".into()]),
            SelectorExpression::Exists("team".into()),
        ],
    };
    assert!(s.matches(&labels(&[("team", "web")])));
    assert!(s.matches(&labels(&[("team", "web"), ("tier", "prod")])));
    assert!(!s.matches(&labels(&[("team", "web"), ("tier", "experimental")])));
    assert!(!s.matches(&labels(&[("team", "api")])));
    let s = LabelSelector {
        match_labels: Default::default(),
        match_expressions: vec![
            SelectorExpression::In("a".into(), vec!["1".into()]),
            SelectorExpression::DoesNotExist("b".into()),
        ],
    };
    assert!(s.matches(&labels(&[("a", "1")])));
    assert!(!s.matches(&labels(&[("a", "1"), ("b", "x")])));
    assert!(LabelSelector::default().matches(&labels(&[])));

    let d = Dir::new(
        INCLUDE,
        &[
            ("flux/a.yaml", AUTOMATION),
            ("flux/p.yaml", POLICY),
            ("flux/r.yaml", REPO),
        ],
    );
    let c = d.ok();
    let api = c.find_policy("apps", "api").unwrap();
    assert!(c.out_of_scope(api).is_some());
}

#[test]
fn suspended_automation_and_bad_automation_fields() {
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/a.yaml",
            &AUTOMATION.replace("  interval: 1m\n", "  interval: 1m\n  suspend: true\n"),
        )],
    );
    assert!(d.ok().automation.unwrap().suspended);

    let bad = AUTOMATION
        .replace("strategy: Setters", "strategy: Rewrite")
        .replace("{{ .Values.cluster }}", "{{ .Updated }}")
        .replace("email: fluxcdbot@users.noreply.github.com", "email: ''");
    let d = Dir::new(INCLUDE, &[("flux/a.yaml", &bad)]);
    let e = d.errors();
    assert!(
        has(&e, &["a.yaml", "spec.update.strategy", "Rewrite"]),
        "{e:#?}"
    );
    assert!(
        has(
            &e,
            &["spec.git.commit.messageTemplate", "removed '.Updated'"]
        ),
        "{e:#?}"
    );
    assert!(
        has(&e, &["spec.git.commit.author.email", "required"]),
        "{e:#?}"
    );

    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/a.yaml",
            &AUTOMATION.replace("'Update {{ .AutomationObject }}", "'{{ now }}"),
        )],
    );
    assert!(has(
        &d.errors(),
        &["messageTemplate", "\"now\" not defined"]
    ));

    // Two automations: deckhand runs one.
    let second = AUTOMATION.replace("name: flux-system, namespace", "name: second, namespace");
    let d = Dir::new(
        INCLUDE,
        &[("flux/a.yaml", AUTOMATION), ("flux/b.yaml", &second)],
    );
    assert!(has(&d.errors(), &["one ImageUpdateAutomation", "second"]));
}

#[test]
fn settings_given_twice_must_agree() {
    let d = Dir::new(
        "include: [./flux]\ngit: {branch: main, author: {name: me, email: me@example.org}}\nupdate: {path: ./elsewhere}\n",
        &[("flux/a.yaml", AUTOMATION)],
    );
    let e = d.errors();
    assert!(
        has(
            &e,
            &["spec.git.checkout.ref.branch", "git.branch: main", "master"]
        ),
        "{e:#?}"
    );
    assert!(
        has(&e, &["spec.git.commit.author", "me <me@example.org>"]),
        "{e:#?}"
    );
    assert!(
        has(&e, &["spec.update.path", "./clusters/production"]),
        "{e:#?}"
    );
    let d = Dir::new(
        "include: [./flux]\ngit: {messageTemplate: 'x'}\n",
        &[("flux/a.yaml", AUTOMATION)],
    );
    assert!(has(
        &d.errors(),
        &["spec.git.commit.messageTemplate", "git.messageTemplate"]
    ));
}

#[test]
fn names_defined_twice_name_both_places() {
    let d = Dir::new(
        "include: [./flux]\nrepositories: {web: {image: nginx}}\n",
        &[("flux/r.yaml", REPO)],
    );
    let e = d.errors();
    assert!(
        has(
            &e,
            &[
                "r.yaml",
                "ImageRepository flux-system/web",
                "defined twice",
                "repositories.web"
            ]
        ),
        "{e:#?}"
    );
    let d = Dir::new(INCLUDE, &[("flux/r.yaml", REPO), ("flux/r2.yaml", REPO)]);
    let e = d.errors();
    assert!(has(&e, &["defined twice", "r.yaml"]), "{e:#?}");
}

#[test]
fn native_and_flux_configuration_mix() {
    let d = Dir::new(
        "include: [./flux]\npolicies:\n  web-semver:\n    repository: web\n    policy: {semver: {range: '^1'}}\n",
        &[("flux/r.yaml", REPO)],
    );
    let c = d.ok();
    assert_eq!(c.policies["web-semver"].repository, "web");
    assert!(!c.policies["web-semver"].origin.flux);
}

#[test]
fn errors_name_the_file_object_and_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: nginx, intervall: 1m}\n",
            &[
                "ImageRepository flux-system/web",
                "spec.intervall",
                "unknown field",
            ],
        ),
        (
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: nginx, interval: 1d}\n",
            &["ImageRepository flux-system/web: spec.interval", "1d"],
        ),
        (
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {interval: 1m}\n",
            &["spec.image", "required"],
        ),
        (
            "apiVersion: image.toolkit.fluxcd.io/v1alpha2\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: nginx}\n",
            &["apiVersion", "v1alpha2", "not supported"],
        ),
        (
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: web}\nspec: {imageRepositoryRef: {name: nope}, policy: {semver: {range: '1.x'}}}\n",
            &[
                "ImagePolicy flux-system/web",
                "spec.imageRepositoryRef",
                "nope",
            ],
        ),
        ("not: [valid", &["f.yaml"]),
    ];
    for (text, needles) in cases {
        let body = if text.starts_with("not") {
            format!("apiVersion: x\n{text}")
        } else {
            (*text).to_owned()
        };
        let d = Dir::new(INCLUDE, &[("flux/f.yaml", &body)]);
        let e = d.errors();
        assert!(has(&e, needles), "{needles:?}: {e:#?}");
        assert!(e.iter().all(|m| m.contains("f.yaml")), "{e:#?}");
    }
    let d = Dir::new("include: [./missing]\n", &[]);
    assert!(has(
        &d.errors(),
        &["include[0]", "missing", "does not exist"]
    ));
}

// ---------------------------------------------------------------------------------------------
// secretRef and certSecretRef

fn repo_with(refs: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {{name: web, namespace: flux-system}}\nspec:\n  image: harbor.lan/homelab/web\n  interval: 1m\n{refs}"
    )
}

fn basic(c: &Config, host: &str) -> (String, String) {
    match c.registries[host].credentials.clone().expect("credentials") {
        Credentials::Basic { username, password } => (username, password.expose().to_owned()),
        Credentials::IdentityToken(_) => panic!("basic expected"),
    }
}

#[test]
fn secret_ref_from_the_credentials_map() {
    let d = Dir::new(
        "include: [./flux]\ncredentials:\n  harbor-credentials: {username: 'robot$homelab+deckhand', passwordFile: ./pw}\n",
        &[
            (
                "flux/r.yaml",
                &repo_with("  secretRef: {name: harbor-credentials}\n"),
            ),
            ("pw", "s3cret\n"),
        ],
    );
    let c = d.ok();
    assert_eq!(
        basic(&c, "harbor.lan"),
        ("robot$homelab+deckhand".into(), "s3cret".into())
    );
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn secret_ref_from_a_dockerconfigjson_secret() {
    use base64::Engine as _;
    let json = r#"{"auths":{"https://harbor.lan":{"auth":"cm9ib3QkaG9tZWxhYitjaTpodW50ZXIy"}}}"#;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    let secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: regcred, namespace: flux-system}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {encoded}\n"
    );
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/r.yaml",
            &(repo_with("  secretRef: {name: regcred}\n") + &secret),
        )],
    );
    assert_eq!(
        basic(&d.ok(), "harbor.lan"),
        ("robot$homelab+ci".into(), "hunter2".into())
    );
    // stringData, with username/password fields.
    let secret = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: regcred, namespace: flux-system}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"harbor.lan\":{\"username\":\"u\",\"password\":\"p\"}}}'\n";
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/r.yaml",
            &(repo_with("  secretRef: {name: regcred}\n") + secret),
        )],
    );
    assert_eq!(basic(&d.ok(), "harbor.lan"), ("u".into(), "p".into()));
}

#[test]
fn sealed_sops_and_missing_secrets_are_errors_with_the_fix() {
    let sealed = "---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: regcred, namespace: flux-system}\nspec: {encryptedData: {.dockerconfigjson: AgB}}\n";
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/r.yaml",
            &(repo_with("  secretRef: {name: regcred}\n") + sealed),
        )],
    );
    let e = d.errors();
    assert!(
        has(
            &e,
            &["spec.secretRef", "SealedSecret", "credentials:", "regcred:"]
        ),
        "{e:#?}"
    );
    let sops = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: regcred, namespace: flux-system}\ntype: kubernetes.io/dockerconfigjson\ndata: {.dockerconfigjson: ENC}\nsops: {version: 3.8.1}\n";
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/r.yaml",
            &(repo_with("  secretRef: {name: regcred}\n") + sops),
        )],
    );
    assert!(has(&d.errors(), &["SOPS-encrypted"]));
    let d = Dir::new(
        INCLUDE,
        &[("flux/r.yaml", &repo_with("  secretRef: {name: regcred}\n"))],
    );
    assert!(has(
        &d.errors(),
        &["Secret flux-system/regcred", "neither", "credentials:"]
    ));
}

#[test]
fn cert_secret_ref_from_credentials_or_a_secret() {
    let d = Dir::new(
        "include: [./flux]\ncredentials: {harbor-ca: {caFile: ./ca.pem}}\n",
        &[
            (
                "flux/r.yaml",
                &repo_with("  certSecretRef: {name: harbor-ca}\n"),
            ),
            ("ca.pem", "-----BEGIN CERTIFICATE-----\n"),
        ],
    );
    let c = d.ok();
    assert!(
        c.registries["harbor.lan"]
            .ca_file
            .as_ref()
            .unwrap()
            .ends_with("ca.pem")
    );
    let secret = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: harbor-ca, namespace: flux-system}\nstringData: {ca.crt: PEMTEXT}\n";
    let d = Dir::new(
        INCLUDE,
        &[(
            "flux/r.yaml",
            &(repo_with("  certSecretRef: {name: harbor-ca}\n") + secret),
        )],
    );
    assert_eq!(
        d.ok().registries["harbor.lan"].ca_pem.as_deref(),
        Some(&b"PEMTEXT"[..])
    );
}

#[test]
fn min_age_and_newest_pushed_need_harbor() {
    let d = Dir::new(
        "registries: {'r:5000': {harbor: false}}\nrepositories: {web: {image: 'r:5000/a/web'}}\npolicies:\n  web: {repository: web, policy: {newestPushed: {}}}\n  old: {repository: web, policy: {semver: {range: '*'}}, minAge: 1h}\n",
        &[],
    );
    let e = d.errors();
    assert!(has(&e, &["policies.web", "harbor is false"]), "{e:#?}");
    assert!(has(&e, &["policies.old", "harbor is false"]), "{e:#?}");
    let d = Dir::new(
        "repositories: {web: {image: 'r:5000/a/web'}}\npolicies:\n  web: {repository: web, policy: {newestPushed: {}}, minAge: 90m}\n",
        &[],
    );
    let c = d.ok();
    assert!(matches!(c.policies["web"].policy.rule, Rule::NewestPushed));
    assert_eq!(c.policies["web"].min_age, Some(Duration::from_secs(5400)));
    let _ = Path::new("");
}
