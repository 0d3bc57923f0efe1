#!/usr/bin/env bash
# Builds deckhand's container image (compose/Dockerfile, FROM scratch) around the static binary.
#   scripts/build-image.sh                     # tags deckhand:<version> and deckhand:latest
# Environment: DECKHAND_IMAGE=name:tag (instead of those two tags); DECKHAND_IMAGE_LABEL=key=value
# (an extra label, repeatable as a space-separated list). Needs a Docker daemon; pulls nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v docker >/dev/null || { echo "error: docker is missing (apt-get install docker.io)" >&2; exit 1; }
bin=$(scripts/build-static.sh)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)

ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "error: no CA bundle at $ca (apt-get install ca-certificates)" >&2; exit 1; }

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$bin" "$context/deckhand"
cp "$ca" "$context/ca-certificates.crt"
cp compose/Dockerfile compose/image/passwd compose/image/group "$context/"
mkdir "$context/state"

# --no-cache: nothing worth reusing (the binary changes), and no layers shared with other builds
# that someone may remove meanwhile. --force-rm: no intermediate container left even on failure.
args=(--quiet --no-cache --force-rm --build-arg "VERSION=$version")
if [ -n "${DECKHAND_IMAGE:-}" ]; then
  args+=(--tag "$DECKHAND_IMAGE")
else
  args+=(--tag "deckhand:$version" --tag deckhand:latest)
fi
for label in ${DECKHAND_IMAGE_LABEL:-}; do args+=(--label "$label"); done
docker build "${args[@]}" "$context" >&2
echo "built ${DECKHAND_IMAGE:-deckhand:$version}" >&2
