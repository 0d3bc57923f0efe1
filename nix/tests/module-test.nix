# Offline checks of nix/module.nix (run by nix/check.sh):
#   nix-instantiate --eval --strict --json nix/tests/module-test.nix
# Each case evaluates the module against the stub lib/pkgs and checks the generated unit; a failed
# check aborts with its name. The result is the list of case names that passed.
let
  eval = import ./eval-module.nix;
  stub = import ./stub.nix;
  inherit (builtins) all attrNames elem filter length;

  exe = "${stub.pkgs.deckhand}/bin/deckhand";
  # The stub's formats.yaml writes JSON: the same settings give the same store path.
  rendered = settings: (stub.pkgs.formats.yaml { }).generate "deckhand.yaml" settings;
  execStart = configFile: extra: builtins.concatStringsSep " "
    ([ ''"${exe}"'' ''"--config"'' ''"${configFile}"'' ''"run"'' ] ++ extra);

  settings = {
    registries."192.168.0.40:5000" = {
      insecure = true;
      username = "robot$homelab+deckhand";
      passwordFile = "/run/credentials/deckhand.service/harbor";
    };
    repositories.web.image = "192.168.0.40:5000/homelab/web";
    policies.web = {
      repository = "web";
      policy.semver.range = ">=1.0.0";
    };
    update.path = "/var/lib/deckhand/repo/clusters/production";
    git.branch = "main";
    daemon.webhookSecretFile = "/run/credentials/deckhand.service/webhook";
  };
  withRollout = settings // {
    rollout.projects = [{ file = "/var/lib/deckhand/repo/backend/docker-compose.yml"; name = "backend"; }];
  };

  unit = c: c.systemd.services.deckhand;
  service = c: (unit c).serviceConfig;
  noDocker = c:
    (service c).SupplementaryGroups == [ ]
    && !(elem "docker.service" (unit c).after)
    && !(elem "docker.socket" (unit c).after)
    && !(elem "docker.service" (unit c).wants);
  hasDocker = c:
    (service c).SupplementaryGroups == [ "docker" ]
    && elem "docker.service" (unit c).after
    && elem "docker.socket" (unit c).after
    && elem "docker.service" (unit c).wants
    && !((unit c) ? requires);
  hardening = {
    CapabilityBoundingSet = [ "" ];
    DeviceAllow = [ "" ];
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    NoNewPrivileges = true;
    PrivateDevices = true;
    PrivateTmp = true;
    ProcSubset = "pid";
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHome = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProtectSystem = "strict";
    RemoveIPC = true;
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" "~@privileged" ];
  };
  hardened = c: all (k: (service c).${k} or null == hardening.${k}) (attrNames hardening);
  failedWith = text: c: length (filter (m: builtins.match ".*${text}.*" m != null) c.failedAssertions) == 1;

  case = name: config: checks:
    let failing = filter (check: !(check.ok config)) checks;
    in if failing == [ ] then name
    else throw "nix/module.nix, case `${name}`: ${builtins.concatStringsSep "; " (map (c: c.what) failing)}";
  check = what: ok: { inherit what ok; };

  base = eval { values = { enable = true; inherit settings; }; };
in
[
  (case "settings without rollout" base [
    (check "ExecStart runs `deckhand --config <rendered settings> run`"
      (c: (service c).ExecStart == execStart (rendered settings) [ ]))
    (check "the rendered file holds the settings as given"
      (_: builtins.fromJSON (builtins.readFile (rendered settings)) == settings))
    (check "no docker group, no ordering on docker" noDocker)
    (check "full hardening, AF_UNIX allowed" hardened)
    (check "runs as the created system user deckhand"
      (c: (service c).User == "deckhand" && (service c).Group == "deckhand"
        && c.users.users.deckhand.isSystemUser && c.users.users.deckhand.home == "/var/lib/deckhand"
        && c.users.groups ? deckhand))
    (check "StateDirectory deckhand is HOME and the working directory"
      (c: (service c).StateDirectory == "deckhand" && (unit c).environment.HOME == "/var/lib/deckhand"
        && (service c).WorkingDirectory == "/var/lib/deckhand"))
    (check "nothing else is writable, no credentials, no environment file"
      (c: (service c).ReadWritePaths == [ ] && (service c).LoadCredential == [ ] && (service c).EnvironmentFile == [ ]))
    (check "started at boot after the network"
      (c: (unit c).wantedBy == [ "multi-user.target" ] && elem "network-online.target" (unit c).after))
    (check "firewall closed, no warnings, all assertions hold"
      (c: c.networking.firewall.allowedTCPPorts == [ ] && c.warnings == [ ] && c.failedAssertions == [ ]))
  ])

  (case "rollout gives the docker group"
    (eval { values = { enable = true; settings = withRollout; }; }) [
    (check "docker group, after docker.service and docker.socket, wants docker.service, no requires" hasDocker)
    (check "assertions hold with Docker enabled" (c: c.failedAssertions == [ ]))
    (check "still fully hardened" hardened)
  ])

  (case "rollout without virtualisation.docker"
    (eval { values = { enable = true; settings = withRollout; }; docker = false; }) [
    (check "the Docker assertion fails" (failedWith "enable virtualisation.docker"))
  ])

  (case "credentials stay outside the store"
    (eval {
      values = {
        enable = true;
        inherit settings;
        credentials = { harbor = "/run/secrets/harbor"; webhook = "/run/secrets/deckhand-webhook"; };
        environmentFile = "/run/secrets/deckhand.env";
      };
    }) [
    (check "LoadCredential passes each file under its name"
      (c: (service c).LoadCredential == [ "harbor:/run/secrets/harbor" "webhook:/run/secrets/deckhand-webhook" ]))
    (check "the rendered config names only /run/credentials/deckhand.service paths"
      (_: builtins.match ".*/run/secrets.*" (builtins.readFile (rendered settings)) == null))
    (check "EnvironmentFile" (c: (service c).EnvironmentFile == [ "/run/secrets/deckhand.env" ]))
    (check "assertions hold" (c: c.failedAssertions == [ ]))
  ])

  (case "a credential in the store is refused"
    (eval { values = { enable = true; inherit settings; credentials.harbor = "${builtins.storeDir}/abc-harbor"; }; }) [
    (check "the store assertion names the credential" (failedWith "credentials.harbor is in the Nix store"))
  ])

  (case "repository outside the state directory"
    (eval {
      values = {
        enable = true;
        settings = removeAttrs settings [ "update" ];
        repository = "/srv/gitops";
      };
    }) [
    (check "the repository is writable" (c: (service c).ReadWritePaths == [ "/srv/gitops" ]))
    (check "update.path defaults to the repository"
      (c: (service c).ExecStart == execStart (rendered ((removeAttrs settings [ "update" ]) // { update.path = "/srv/gitops"; })) [ ]))
  ])

  (case "repository under /home is refused"
    (eval { values = { enable = true; inherit settings; repository = "/home/alice/gitops"; }; }) [
    (check "the ProtectHome assertion fails" (failedWith "ProtectHome hides /home"))
  ])

  (case "configFile instead of settings"
    (eval { values = { enable = true; configFile = "/srv/gitops/deckhand.yaml"; }; }) [
    (check "ExecStart uses the file where it is" (c: (service c).ExecStart == execStart "/srv/gitops/deckhand.yaml" [ ]))
    (check "no docker group without dockerAccess" noDocker)
    (check "assertions hold" (c: c.failedAssertions == [ ]))
  ])

  (case "configFile with dockerAccess"
    (eval { values = { enable = true; configFile = "/srv/gitops/deckhand.yaml"; dockerAccess = true; }; }) [
    (check "docker group" hasDocker)
  ])

  (case "configFile and settings together are refused"
    (eval { values = { enable = true; inherit settings; configFile = "/srv/gitops/deckhand.yaml"; }; }) [
    (check "the either-or assertion fails" (failedWith "settings or configFile, not both"))
  ])

  (case "extraArgs are quoted for systemd"
    (eval { values = { enable = true; inherit settings; extraArgs = [ "--log-format" "json" "-v" "$HOME 100%" ]; }; }) [
    (check "appended after run, $ and % escaped"
      (c: (service c).ExecStart == execStart (rendered settings) [ ''"--log-format"'' ''"json"'' ''"-v"'' ''"$$HOME 100%%"'' ]))
  ])

  (case "openFirewall opens the daemon.listen port"
    (eval { values = { enable = true; settings = settings // { daemon.listen = "0.0.0.0:9480"; }; openFirewall = true; }; }) [
    (check "port 9480 open" (c: c.networking.firewall.allowedTCPPorts == [ 9480 ]))
    (check "no warning" (c: c.warnings == [ ]))
  ])

  (case "openFirewall on a loopback listener"
    (eval { values = { enable = true; inherit settings; openFirewall = true; }; }) [
    (check "deckhand's default port 9090 is opened" (c: c.networking.firewall.allowedTCPPorts == [ 9090 ]))
    (check "a warning says it listens on loopback" (c: length c.warnings == 1))
  ])

  (case "an existing user owns the repository"
    (eval { values = { enable = true; inherit settings; user = "gitops"; group = "gitops"; stateDir = "deckhand-gitops"; }; }) [
    (check "runs as that user, creates no user or group"
      (c: (service c).User == "gitops" && c.users.users == { } && c.users.groups == { }))
    (check "the state directory follows stateDir"
      (c: (service c).StateDirectory == "deckhand-gitops" && (unit c).environment.HOME == "/var/lib/deckhand-gitops"))
  ])

  (case "disabled" (eval { values = { enable = false; inherit settings; }; }) [
    (check "defines nothing" (c: c == { failedAssertions = [ ]; }))
  ])
]
