#!/usr/bin/env bash
# Runs every deckhand test on this machine, installing what the tests need first (Debian).
# The tests start their own registries (Debian's docker-registry), token service, git
# repositories, sshd and git smart-HTTP servers on loopback, and fail loudly when a component is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages docker-registry:docker-registry git:git curl:curl openssl:openssl \
  python3:python3 python3-cryptography:python3-cryptography cc:build-essential \
  sshd:openssh-server ssh-keygen:openssh-client gpg:gnupg
# The rollout tests: a real Docker engine, Debian's docker-compose, images FROM scratch with busybox.
ensure_packages dockerd:docker.io docker-compose:docker-compose busybox-static:busybox-static
ensure_rust
start_dockerd_if_needed
# Stop the engine at the end only if this script started it.
[ -z "$DOCKERD_PID" ] || trap 'as_root kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true' EXIT

export DECKHAND_CORPUS="${DECKHAND_CORPUS:-$(pwd)/../shared/corpus}"
[ -d "$DECKHAND_CORPUS" ] || { echo "error: the YAML corpus is missing at $DECKHAND_CORPUS (set DECKHAND_CORPUS)" >&2; exit 1; }

# --- packaging: Nix checks and the static binary (the container tests use it) ---
# (Docker itself is started above.)
ensure_packages nix-instantiate:nix-bin musl-gcc:musl-tools readelf:binutils file:file
echo "== nix checks (offline, stub nixpkgs)" >&2
nix/check.sh
echo "== static binary" >&2
scripts/build-static.sh >/dev/null
# --- end packaging ---

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test" >&2
cargo test --quiet
