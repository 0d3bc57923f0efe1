# A stand-in for nixpkgs, so `nix flake check --no-build` can check the flake's outputs offline:
#   nix flake check --no-build --no-write-lock-file --override-input nixpkgs path:./nix/tests/stub-nixpkgs
# It provides what flake.nix and nix/package.nix call; every package is an empty derivation.
{
  outputs = _:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      lib = {
        genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
        importTOML = file: builtins.fromTOML (builtins.readFile file);
        fileset = {
          unions = xs: xs;
          toSource = { root, fileset }:
            let missing = builtins.filter (p: !builtins.pathExists p) fileset;
            in if missing == [ ] then root else throw "lib.fileset: ${toString missing} does not exist";
        };
        licenses.asl20 = { };
        platforms.linux = systems;
        mkDefault = x: x;
      };
      emptyDrv = system: name: derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" ": > $out" ];
      };
      pkgsFor = system: rec {
        inherit lib;
        stdenv.hostPlatform.system = system;
        callPackage = fn: overrides:
          (if builtins.isFunction fn then fn else import fn) ({ inherit lib rustPlatform; } // overrides);
        # Forces what the real one reads first: the source (a missing fileset entry fails), the
        # lock file and meta.mainProgram (lib.getExe needs it).
        rustPlatform.buildRustPackage = attrs:
          assert builtins.pathExists attrs.src;
          assert builtins.pathExists attrs.cargoLock.lockFile;
          assert builtins.isString attrs.meta.mainProgram;
          emptyDrv system "${attrs.pname}-${attrs.version}" // { inherit (attrs) meta; };
        testers.runNixOSTest = _: emptyDrv system "vm-test";
        nixpkgs-fmt = emptyDrv system "nixpkgs-fmt";
      };
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems pkgsFor;
    };
}
