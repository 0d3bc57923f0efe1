# The whole loop in a NixOS VM (flake check `vm`; needs Nix and KVM):
#   nix build .#checks.x86_64-linux.vm -L
# A local registry, a bare git remote and a compose project running app:1.0.0; deckhand runs as a
# service; after app:1.1.0 is pushed, the remote gets deckhand's commit and the project runs 1.1.0.
# The VM has no network: both image versions are built here with dockerTools.
{ pkgs, ... }:
let
  registry = "localhost:5000";
  image = "${registry}/homelab/app";
  app = tag: pkgs.dockerTools.buildImage {
    name = image;
    inherit tag;
    copyToRoot = [ pkgs.busybox ];
    config.Cmd = [ "sh" "-c" "echo ${tag}; exec sleep 3600" ];
  };
  compose = pkgs.writeText "docker-compose.yml" ''
    services:
      app:
        image: ${image}:1.0.0 # {"$imagepolicy": "flux-system:app"}
  '';
  remote = "/var/lib/deckhand/remote.git";
in
{
  name = "deckhand";

  nodes.machine = { lib, ... }: {
    virtualisation.docker.enable = true;
    services.dockerRegistry = {
      enable = true;
      port = 5000;
    };
    environment.systemPackages = [ pkgs.git pkgs.docker-compose ];

    services.deckhand = {
      enable = true;
      repository = "/srv/gitops";
      settings = {
        repositories.app = {
          inherit image;
          interval = "5s";
        };
        policies.app = {
          repository = "app";
          policy.semver.range = ">=1.0.0";
        };
        git = {
          branch = "main";
          author = { name = "deckhand"; email = "deckhand@vm.test"; };
          push = { remote = "origin"; branch = "main"; };
        };
        rollout.projects = [{
          file = "/srv/gitops/app/docker-compose.yml";
          name = "app";
          healthTimeout = "1m";
        }];
      };
    };
    # Started by the test script, once the repository exists.
    systemd.services.deckhand.wantedBy = lib.mkForce [ ];
  };

  testScript = ''
    def as_deckhand(command):
        return machine.succeed(f"runuser -u deckhand -- {command}")

    machine.wait_for_unit("docker.service")
    machine.wait_for_unit("docker-registry.service")
    machine.succeed("docker load < ${app "1.0.0"}", "docker push ${image}:1.0.0")

    machine.succeed("install -d -o deckhand -g deckhand /srv/gitops /var/lib/deckhand")
    as_deckhand("git init -q --bare -b main ${remote}")
    as_deckhand("git clone -q ${remote} /srv/gitops")
    as_deckhand("install -D -m 644 ${compose} /srv/gitops/app/docker-compose.yml")
    as_deckhand("git -C /srv/gitops add -A")
    as_deckhand("git -C /srv/gitops -c user.name=person -c user.email=person@vm.test commit -q -m initial")
    as_deckhand("git -C /srv/gitops push -q origin main")

    machine.succeed("docker-compose -p app -f /srv/gitops/app/docker-compose.yml up -d")
    machine.succeed("docker ps --filter label=com.docker.compose.project=app --format '{{.Image}}' | grep -x ${image}:1.0.0")

    machine.systemctl("start deckhand.service")
    machine.wait_for_unit("deckhand.service")
    machine.succeed("docker load < ${app "1.1.0"}", "docker push ${image}:1.1.0")

    machine.wait_until_succeeds(
        "runuser -u deckhand -- git -C ${remote} show main:app/docker-compose.yml | grep -F '${image}:1.1.0 #'",
        timeout=120,
    )
    assert as_deckhand("git -C ${remote} log -1 --format=%an main").strip() == "deckhand"
    machine.wait_until_succeeds(
        "docker ps --filter label=com.docker.compose.project=app --format '{{.Image}}' | grep -x ${image}:1.1.0",
        timeout=180,
    )
  '';
}
