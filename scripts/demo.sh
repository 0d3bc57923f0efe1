#!/usr/bin/env bash
# The main job on a self-contained example: start a local registry (Debian's docker-registry) on
# loopback, push sample tags, make a git checkout from compose/example, and run `deckhand sync`
# on it — first as a dry run (the diff), then for real (the commit).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

ensure_packages docker-registry:docker-registry git:git curl:curl sha256sum:coreutils cc:build-essential
ensure_rust
(cd "$top" && cargo build --quiet)
deckhand=$top/target/debug/deckhand

work=$(mktemp -d)
export IMAGE_DIR=$work/img
REGISTRY_PID=
cleanup() { [ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# 1. A registry of our own on a free loopback port, with its own config (never the package's).
port=$(free_port 5000)
start_registry "$work/registry" "$port"
base=http://127.0.0.1:$port
echo "registry: $base (pid $REGISTRY_PID)" >&2

# 2. One small image, pushed once and tagged many times (a manifest PUT per tag).
push_image "$base" homelab/backend main-1a2b3c4-1707300000
for t in main-f00ba47-1707350000 main-0a1b2c3-1707400000 latest; do put_tag "$base" homelab/backend "$t"; done
push_image "$base" homelab/frontend 1.0.0
for t in 1.1.0 1.2.3 1.3.0-rc.1 2.0.0; do put_tag "$base" homelab/frontend "$t"; done
echo "tags: $(curl -sf "$base/v2/homelab/backend/tags/list")" >&2
echo "tags: $(curl -sf "$base/v2/homelab/frontend/tags/list")" >&2

# 3. A git checkout made from the annotated example, pointing at this registry's port.
checkout=$work/checkout
cp -r "$top/compose/example" "$checkout"
grep -rl '127.0.0.1:5000' "$checkout" | xargs sed -i "s/127\.0\.0\.1:5000/127.0.0.1:$port/g"
git -C "$checkout" init -q -b main
git -C "$checkout" -c user.name=demo -c user.email=demo@example.org add -A
git -C "$checkout" -c user.name=demo -c user.email=demo@example.org commit -qm "example stack"

# 4. deckhand: what it would do, then what it does.
cd "$checkout"
echo; echo "\$ deckhand sync --dry-run" >&2
"$deckhand" sync --dry-run
echo; echo "\$ deckhand sync" >&2
"$deckhand" sync
echo; echo "\$ git show --stat HEAD && git diff HEAD~1" >&2
git --no-pager show --stat HEAD
git --no-pager diff HEAD~1
echo; echo "\$ deckhand sync   # again: nothing left to do" >&2
"$deckhand" sync
