{ config, lib, pkgs, utils, ... }:

let
  # This list is also what the offline stub (nix/tests/stub.nix) has to provide.
  inherit (lib)
    getExe
    hasPrefix
    literalExpression
    mapAttrsToList
    mkEnableOption
    mkIf
    mkOption
    mkPackageOption
    optional
    optionals
    toInt
    types
    ;

  cfg = config.services.deckhand;
  settingsFormat = pkgs.formats.yaml { };

  stateDirectory = "/var/lib/${cfg.stateDir}";

  # Without an `update` section, deckhand would search next to its config file, in the store.
  settings =
    if cfg.repository != null && !(cfg.settings ? update)
    then cfg.settings // { update.path = cfg.repository; }
    else cfg.settings;
  configFile =
    if cfg.configFile != null
    then cfg.configFile
    else settingsFormat.generate "deckhand.yaml" settings;

  # deckhand's own default for daemon.listen (DESIGN.md).
  listen = cfg.settings.daemon.listen or "127.0.0.1:9090";
  portMatch = builtins.match ".*:([0-9]+)" listen;
  listenPort = if portMatch == null then null else toInt (builtins.head portMatch);
  loopback = builtins.match "(127\\.[0-9.]+|localhost|[[]::1[]]):[0-9]+" listen != null;

  inStore = file: hasPrefix "${builtins.storeDir}/" (toString file);
in
{
  options.services.deckhand = {
    enable = mkEnableOption "deckhand, GitOps image automation for Docker Compose hosts";

    package = mkPackageOption pkgs "deckhand" { };

    settings = mkOption {
      type = types.submodule { freeformType = settingsFormat.type; };
      default = { };
      example = literalExpression ''
        {
          registries."192.168.0.40:5000" = {
            insecure = true;
            username = "robot$homelab+deckhand";
            passwordFile = "/run/credentials/deckhand.service/harbor";
          };
          repositories.web.image = "192.168.0.40:5000/homelab/web";
          policies.web = {
            repository = "web";
            filterTags = { pattern = "^main-[a-f0-9]{7}-(?P<ts>[0-9]{10})$"; extract = "$ts"; };
            policy.numerical.order = "asc";
          };
          git.branch = "main";
          rollout.projects = [{ file = "/srv/gitops/backend/docker-compose.yml"; name = "backend"; }];
          daemon.webhookSecretFile = "/run/credentials/deckhand.service/webhook";
        }
      '';
      description = ''
        deckhand's configuration, as in `deckhand.yaml` (see the README's configuration
        reference), rendered to YAML in the Nix store. The file lives in the store, so paths
        in it must be absolute; with `repository` set and no `update` section, `update.path`
        defaults to the repository.

        Never put secrets here: the store is world-readable. Pass secret files with
        `credentials` and point the `*File` keys at
        `/run/credentials/deckhand.service/<name>`.

        A `rollout` section gives the service the Docker socket (see `dockerAccess`).
      '';
    };

    configFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/srv/gitops/deckhand.yaml";
      description = ''
        An existing `deckhand.yaml` to use instead of `settings`. Given as a string outside
        the store (such as the file in the repository), relative paths in it keep working;
        it must be readable by `user`. With a `rollout` section in it, set `dockerAccess`.
      '';
    };

    credentials = mkOption {
      type = types.attrsOf types.path;
      default = { };
      example = {
        harbor = "/run/secrets/harbor-robot";
        webhook = "/run/secrets/deckhand-webhook";
      };
      description = ''
        Secret files, passed with systemd's `LoadCredential`: systemd copies each to
        `/run/credentials/deckhand.service/<name>`, readable only by the service. Refer to
        that path from `settings` (`passwordFile`, `webhookSecretFile`, …). The files stay
        where they are; give them as strings, not Nix paths, so they never enter the store.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/deckhand.env";
      description = ''
        A systemd `EnvironmentFile` (outside the store), e.g. for `passwordEnv` and
        `webhookSecretEnv` variables or `DECKHAND_LOG`.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--log-format" "json" "-v" ];
      description = "Extra arguments for `deckhand run`.";
    };

    stateDir = mkOption {
      type = types.str;
      default = "deckhand";
      description = ''
        Name of the state directory under `/var/lib` (systemd `StateDirectory`). deckhand keeps
        its state there (`$STATE_DIRECTORY`), and it is the service's home (git and ssh read
        their configuration from it). A checkout inside it needs no `repository`.
      '';
    };

    repository = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/srv/gitops";
      description = ''
        The git checkout deckhand edits, commits in and rolls out from, when it lives outside
        `stateDir`. The service may write there (`ReadWritePaths`); everything else outside
        its state directory is read-only. It must be owned by `user` (libgit2 refuses a
        repository owned by someone else) and cannot be under `/home` or `/root`, which the
        service cannot see.
      '';
    };

    user = mkOption {
      type = types.str;
      default = "deckhand";
      description = ''
        User the service runs as, the owner of the repository. The default user is created as
        a system user whose home is the state directory.
      '';
    };

    group = mkOption {
      type = types.str;
      default = "deckhand";
      description = "Group the service runs as; the default group is created.";
    };

    dockerAccess = mkOption {
      type = types.bool;
      default = cfg.configFile == null && (cfg.settings.rollout or null) != null;
      defaultText = literalExpression
        "config.services.deckhand.configFile == null && config.services.deckhand.settings ? rollout";
      description = ''
        Whether the service may use the Docker socket (the `docker` supplementary group,
        ordered after `docker.service`), which it needs to roll out compose projects. Access to
        the Docker socket is root-equivalent: whoever controls deckhand's configuration or its
        repository can start privileged containers. On by default only when `settings` has a
        `rollout` section.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open the TCP port of `settings.daemon.listen` (webhooks, `/metrics`, `/healthz`) in
        the firewall. deckhand listens on 127.0.0.1:9090 unless `daemon.listen` says otherwise.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !cfg.dockerAccess || config.virtualisation.docker.enable;
        message = "services.deckhand rolls out through Docker (settings.rollout or dockerAccess): enable virtualisation.docker.";
      }
      {
        assertion = cfg.configFile == null || cfg.settings == { };
        message = "services.deckhand: set settings or configFile, not both.";
      }
      {
        assertion = !cfg.openFirewall || listenPort != null;
        message = "services.deckhand.openFirewall: no port in settings.daemon.listen `${listen}`.";
      }
      {
        assertion = cfg.repository == null || !(hasPrefix "/home/" cfg.repository || hasPrefix "/root/" cfg.repository);
        message = "services.deckhand.repository `${toString cfg.repository}`: ProtectHome hides /home and /root from the service; keep the checkout elsewhere (e.g. /srv).";
      }
      {
        assertion = cfg.environmentFile == null || !(inStore cfg.environmentFile);
        message = "services.deckhand.environmentFile is in the Nix store, readable by everyone; give a path outside the store as a string.";
      }
    ] ++ mapAttrsToList
      (name: file: {
        assertion = !(inStore file);
        message = "services.deckhand.credentials.${name} is in the Nix store, readable by everyone; give a path outside the store as a string.";
      })
      cfg.credentials;

    warnings = optional (cfg.openFirewall && loopback)
      "services.deckhand.openFirewall opens port ${toString listenPort}, but deckhand listens on ${listen}, a loopback address: set settings.daemon.listen.";

    users.users = mkIf (cfg.user == "deckhand") {
      deckhand = {
        isSystemUser = true;
        inherit (cfg) group;
        home = stateDirectory;
      };
    };
    users.groups = mkIf (cfg.group == "deckhand") { deckhand = { }; };

    networking.firewall.allowedTCPPorts = optionals (cfg.openFirewall && listenPort != null) [ listenPort ];

    systemd.services.deckhand = {
      description = "deckhand: GitOps image automation for Docker Compose";
      wantedBy = [ "multi-user.target" ];
      # No `requires` on docker: restarting Docker must not stop deckhand.
      wants = [ "network-online.target" ] ++ optional cfg.dockerAccess "docker.service";
      after = [ "network-online.target" ] ++ optionals cfg.dockerAccess [ "docker.service" "docker.socket" ];
      environment.HOME = stateDirectory;

      serviceConfig = {
        ExecStart = utils.escapeSystemdExecArgs ([ (getExe cfg.package) "--config" "${configFile}" "run" ] ++ cfg.extraArgs);
        User = cfg.user;
        Group = cfg.group;
        SupplementaryGroups = optional cfg.dockerAccess "docker";
        StateDirectory = cfg.stateDir;
        StateDirectoryMode = "0750";
        WorkingDirectory = stateDirectory;
        ReadWritePaths = optional (cfg.repository != null) cfg.repository;
        LoadCredential = mapAttrsToList (name: file: "${name}:${toString file}") cfg.credentials;
        EnvironmentFile = optional (cfg.environmentFile != null) (toString cfg.environmentFile);
        Restart = "on-failure";
        RestartSec = "10s";

        # Hardening: the baseline of nixpkgs' exporters, plus AF_UNIX (the Docker socket, nscd)
        # and a system call filter.
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
        SystemCallErrorNumber = "EPERM";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        # Group-readable, so people in the repository's group can still read what deckhand commits.
        UMask = "0027";
      };
    };
  };
}
