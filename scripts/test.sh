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
ensure_rust

export DECKHAND_CORPUS="${DECKHAND_CORPUS:-$(pwd)/../shared/corpus}"
[ -d "$DECKHAND_CORPUS" ] || { echo "error: the YAML corpus is missing at $DECKHAND_CORPUS (set DECKHAND_CORPUS)" >&2; exit 1; }

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test" >&2
cargo test --quiet
