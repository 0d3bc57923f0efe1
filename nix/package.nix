{ lib, rustPlatform }:

let
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "deckhand";
  inherit (cargoToml.package) version;

  # Only what cargo needs: target/, .git, docs and the Nix files stay out of the source hash.
  # benches/ is in because Cargo.toml declares [[bench]] targets there.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../benches
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  # libgit2 is vendored (git2's vendored-libgit2) and TLS is rustls with aws-lc: stdenv's C
  # compiler is all they need, no openssl or pkg-config.

  # The sandbox has no registry, Docker or git remote, and not the shared YAML corpus: run the
  # library's unit tests only (tests/it is outside the source), and skip the two unit tests that
  # read Flux's test data from the corpus. scripts/test.sh runs everything outside Nix.
  cargoTestFlags = [ "--lib" ];
  checkFlags = [ "--skip=manifest::tests::flux_setters_" ];

  meta = {
    inherit (cargoToml.package) description;
    license = lib.licenses.asl20;
    mainProgram = "deckhand";
    platforms = lib.platforms.linux;
  };
}
