{
  description = "deckhand: GitOps image automation for Docker Compose hosts";

  # The only input: every other one would need the network, even for the offline checks.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      eachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = eachSystem (pkgs: {
        deckhand = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.deckhand;
      });

      overlays.default = final: _prev: {
        deckhand = final.callPackage ./nix/package.nix { };
      };

      nixosModules.default = { lib, pkgs, ... }: {
        imports = [ ./nix/module.nix ];
        services.deckhand.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };

      checks = eachSystem (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        # Needs KVM: a VM with Docker, a registry and a git remote (nix/tests/vm.nix).
        vm = pkgs.testers.runNixOSTest {
          imports = [ ./nix/tests/vm.nix ];
          defaults.imports = [ self.nixosModules.default ];
        };
      });

      formatter = eachSystem (pkgs: pkgs.nixpkgs-fmt);
    };
}
