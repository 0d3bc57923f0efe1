#!/usr/bin/env bash
# The Nix checks that run without nixpkgs (Debian's nix-bin 2.8 has none), as root (nix without a
# daemon needs a writable /nix). Run by scripts/test.sh; on its own: nix/check.sh
#  1. every .nix file parses (syntax, unbound variables)
#  2. nix/module.nix, evaluated against a stub lib/pkgs, generates the unit the cases in
#     nix/tests/module-test.nix expect (ExecStart, credentials, groups, hardening, assertions)
#  3. `nix flake check --no-build` with nixpkgs replaced by nix/tests/stub-nixpkgs: the flake's
#     outputs have the right shape and every expression up to each derivation evaluates
#  4. deadnix (unused code) and nixpkgs-fmt --check (formatting), both built from crates.io once
# What needs nixpkgs — real builds, real option types, the VM test — runs where Nix is installed:
#   nix flake check   (see README.md, "NixOS").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages nix-instantiate:nix-bin git:git
ensure_rust
# Pinned versions; cargo install is a no-op once they are there (CI: about 2 minutes on 2 cores).
for tool in deadnix:1.3.1 nixpkgs-fmt:1.3.0; do
  name=${tool%%:*} version=${tool#*:}
  # (nixpkgs-fmt --version exits 1: compare its output, not its status)
  if [[ "$("$name" --version 2>/dev/null || true)" != *" $version"* ]]; then
    echo "installing $name $version from crates.io" >&2
    cargo install --quiet --locked --version "$version" "$name"
  fi
done

nix_files() { git ls-files --cached --others --exclude-standard -- '*.nix'; }

echo "== nix: parse" >&2
mapfile -t files < <(nix_files)
[ ${#files[@]} -gt 0 ] || { echo "error: no .nix files found" >&2; exit 1; }
nix-instantiate --parse "${files[@]}" >/dev/null

echo "== nix: module evaluation (stub lib/pkgs)" >&2
# --read-write-mode: the stub's formats.yaml writes the rendered config to the store.
passed=$(nix-instantiate --eval --strict --json --read-write-mode nix/tests/module-test.nix)
echo "module cases passed: $passed" >&2

echo "== nix: flake check --no-build (stub nixpkgs)" >&2
# Flakes see only files git knows: a new .nix file must be `git add`ed first.
if [ -n "$(git ls-files --others --exclude-standard -- flake.nix nix)" ]; then
  echo "error: untracked Nix files, invisible to the flake: git add them" >&2
  git ls-files --others --exclude-standard -- flake.nix nix >&2
  exit 1
fi
flake=(nix --extra-experimental-features 'nix-command flakes' --offline)
stub=(--no-write-lock-file --override-input nixpkgs path:./nix/tests/stub-nixpkgs)
if ! out=$("${flake[@]}" flake check --no-build "${stub[@]}" 2>&1); then
  echo "$out" >&2
  exit 1
fi
"${flake[@]}" flake show "${stub[@]}" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >&2

echo "== nix: deadnix, nixpkgs-fmt" >&2
deadnix --fail -L flake.nix nix
nixpkgs-fmt --check flake.nix nix
echo "nix checks passed" >&2
