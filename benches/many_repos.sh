#!/usr/bin/env bash
# Many repositories: `deckhand sync --dry-run` over N repositories × T tags on a loopback registry,
# side by side with parallel curl fetching the same tag lists. Prints both wall times and the ratio
# (target: deckhand ≤ 1.2 × curl). Usage: benches/many_repos.sh [REPOS] [TAGS] [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
repos=${1:-200} tags=${2:-20} rounds=${3:-5}
ensure_packages docker-registry:docker-registry curl:curl git:git
(cd "$top" && cargo build --release --quiet)
deckhand=$top/target/release/deckhand

work=$(mktemp -d)
export IMAGE_DIR=$work/img
REGISTRY_PID=
trap '[ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(free_port 5400)
start_registry "$work/registry" "$port"
base=http://127.0.0.1:$port
host=127.0.0.1:$port

echo "seeding $repos repositories × $tags tags …" >&2
push_image "$base" bench/r0 1.0.0
seed_repo() {
  local r=$1 t d blob
  # Cross-repository blob mounts (201): no blob upload per repository. r0 holds the blobs already;
  # mounting r0 into itself while others mount from it makes the registry lose track of them.
  if [ "$r" != 0 ]; then
    for blob in layer.tgz config.json; do
      d=$(sha256sum "$IMAGE_DIR/$blob" | cut -d' ' -f1)
      code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$base/v2/bench/r$r/blobs/uploads/?mount=sha256:$d&from=bench/r0")
      [ "$code" = 201 ] || { echo "mounting $blob into bench/r$r answered $code" >&2; return 1; }
    done
  fi
  for t in $(seq 0 $((tags - 1))); do put_tag "$base" "bench/r$r" "1.$t.0" || { echo "seeding bench/r$r:1.$t.0 failed" >&2; return 1; }; done
}
export -f seed_repo put_tag; export base tags
seq 0 $((repos - 1)) | xargs -P 8 -I{} bash -c 'seed_repo {}'

checkout=$work/checkout
mkdir -p "$checkout/deploy"
{
  echo "registries: {\"$host\": {insecure: true, maxConcurrency: 16}}"
  echo "repositories:"
  for r in $(seq 0 $((repos - 1))); do echo "  r$r: {image: $host/bench/r$r}"; done
  echo "policies:"
  for r in $(seq 0 $((repos - 1))); do echo "  r$r: {repository: r$r, policy: {semver: {range: '>=1.0.0'}}}"; done
  echo "update: {path: ./deploy}"
} > "$checkout/deckhand.yaml"
for r in $(seq 0 $((repos - 1))); do
  printf 'services:\n  r%s:\n    image: %s/bench/r%s:1.0.0 # {"$imagepolicy": "flux-system:r%s"}\n' "$r" "$host" "$r" "$r" > "$checkout/deploy/r$r.yml"
done
git -C "$checkout" init -q -b main
git -C "$checkout" -c user.name=b -c user.email=b@b add -A
git -C "$checkout" -c user.name=b -c user.email=b@b commit -qm bench

now() { date +%s.%N; }
best() { sort -g | head -1; }
curl_once() {
  seq 0 $((repos - 1)) | xargs -P 16 -I{} curl -sf -o /dev/null "$base/v2/bench/r{}/tags/list?n=1000"
}
deckhand_once() {
  (cd "$checkout" && "$deckhand" sync --dry-run --output json > "$work/plan.json" 2> "$work/err.log")
}
deckhand_once
changes=$(grep -c '"new"' "$work/plan.json" || true)
[ "$changes" = "$repos" ] || { echo "error: expected $repos planned changes, got $changes" >&2; cat "$work/err.log" >&2; exit 1; }

c_times=() d_times=()
for _ in $(seq "$rounds"); do
  s=$(now); curl_once; e=$(now); c_times+=("$(awk "BEGIN{print $e - $s}")")
  s=$(now); deckhand_once; e=$(now); d_times+=("$(awk "BEGIN{print $e - $s}")")
done
c=$(printf '%s\n' "${c_times[@]}" | best)
d=$(printf '%s\n' "${d_times[@]}" | best)
printf 'repositories: %s, tags each: %s, rounds: %s (best of)\n' "$repos" "$tags" "$rounds"
printf 'parallel curl (16 at once):      %.3f s\n' "$c"
printf 'deckhand sync --dry-run (whole): %.3f s  (includes config load, scan of %s files, planning)\n' "$d" "$repos"
printf 'ratio deckhand / curl:           %.2f  (target <= 1.2)\n' "$(awk "BEGIN{print $d / $c}")"
