#!/usr/bin/env bash
# Runs every deckhand test on this machine, installing what the tests need first (Debian).
# The tests start their own registries (Debian's docker-registry), token service and git
# repositories on loopback, and fail loudly when a component is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages docker-registry:docker-registry git:git curl:curl openssl:openssl \
  python3:python3 python3-cryptography:python3-cryptography cc:build-essential
ensure_rust

export DECKHAND_CORPUS="${DECKHAND_CORPUS:-$(pwd)/../shared/corpus}"
[ -d "$DECKHAND_CORPUS" ] || { echo "error: the YAML corpus is missing at $DECKHAND_CORPUS (set DECKHAND_CORPUS)" >&2; exit 1; }

# --- packaging (issue 7): Docker for the container tests, Nix checks, the static binary ---
ensure_packages dockerd:docker.io docker-compose:docker-compose nix-instantiate:nix-bin \
  musl-gcc:musl-tools readelf:binutils file:file
# A Docker daemon: use the running one, else start one here and stop it (by its pid) at the end.
if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd" >&2
  as_root dockerd >/tmp/deckhand-test-dockerd.log 2>&1 &
  DOCKERD_PID=$!
  trap 'kill "$DOCKERD_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "error: dockerd did not start:" >&2; tail -20 /tmp/deckhand-test-dockerd.log >&2; exit 1; }
fi
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
