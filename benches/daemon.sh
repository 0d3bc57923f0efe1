#!/usr/bin/env bash
# The daemon (`deckhand run`) with REPOS repositories on a loopback docker-registry whose
# notifications point at the daemon's /hooks/registry:
#   1. idle resident memory and CPU time over IDLE seconds (targets: <= 20 MB, ~0 CPU), side by
#      side with the docker-registry process idling next to it;
#   2. push -> commit latency through the webhook over PUSHES pushes, p50 and p99 (target <= 1 s),
#      side by side with the same change picked up by running `deckhand sync` by hand.
# Usage: benches/daemon.sh [REPOS] [PUSHES] [IDLE_SECONDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
repos=${1:-50} pushes=${2:-50} idle=${3:-60}
ensure_packages docker-registry:docker-registry curl:curl git:git
(cd "$top" && cargo build --release --quiet)
deckhand=$top/target/release/deckhand

work=$(mktemp -d)
export IMAGE_DIR=$work/img
REGISTRY_PID= DAEMON_PID=
cleanup() {
  [ -z "$DAEMON_PID" ] || kill "$DAEMON_PID" 2>/dev/null || true
  [ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(free_port 5400)
dport=$(free_port $((port + 1)))
base=http://127.0.0.1:$port
host=127.0.0.1:$port
secret=benchsecret

# The registry, notifying the daemon of every manifest push.
mkdir -p "$work/registry/data"
cat > "$work/registry/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:$port}
notifications:
  endpoints:
    - name: deckhand
      url: http://127.0.0.1:$dport/hooks/registry
      headers: {Authorization: ["Bearer $secret"]}
      timeout: 2s
      threshold: 3
      backoff: 500ms
      ignoredmediatypes: [application/octet-stream]
YAML
docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$base/v2/" && break; sleep 0.1; done

echo "seeding $repos repositories …" >&2
push_image "$base" bench/r0 1.0.0
seed_repo() {
  local r=$1 d
  for f in layer.tgz config.json; do
    d=$(sha256sum "$IMAGE_DIR/$f" | cut -d' ' -f1)
    curl -sf -o /dev/null -X POST "$base/v2/bench/r$r/blobs/uploads/?mount=sha256:$d&from=bench/r0"
  done
  put_tag "$base" "bench/r$r" 1.0.0
}
export -f seed_repo put_tag; export base
seq 1 $((repos - 1)) | xargs -P 8 -I{} bash -c 'seed_repo {}'

checkout=$work/checkout
mkdir -p "$checkout/deploy"
printf '%s\n' "$secret" > "$work/secret"
{
  echo "registries: {\"$host\": {insecure: true}}"
  echo "repositories:"
  for r in $(seq 0 $((repos - 1))); do echo "  r$r: {image: $host/bench/r$r, interval: 5m}"; done
  echo "policies:"
  for r in $(seq 0 $((repos - 1))); do echo "  r$r: {repository: r$r, policy: {semver: {range: '>=1.0.0'}}}"; done
  echo "update: {path: ./deploy}"
  echo "daemon: {listen: '127.0.0.1:$dport', webhookSecretFile: $work/secret}"
} > "$checkout/deckhand.yaml"
for r in $(seq 0 $((repos - 1))); do
  printf 'services:\n  r%s:\n    image: %s/bench/r%s:1.0.0 # {"$imagepolicy": "flux-system:r%s"}\n' "$r" "$host" "$r" "$r" > "$checkout/deploy/r$r.yml"
done
git -C "$checkout" init -q -b main
git -C "$checkout" -c user.name=b -c user.email=b@b add -A
git -C "$checkout" -c user.name=b -c user.email=b@b commit -qm bench

(cd "$checkout" && exec "$deckhand" run 2> "$work/daemon.log") &
DAEMON_PID=$!
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$dport/readyz" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$dport/readyz" || { cat "$work/daemon.log" >&2; exit 1; }
sleep 3 # the first update pass (nothing to change) and the registry's seeding notifications

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
d_rss=$(rss_kb "$DAEMON_PID") r_rss=$(rss_kb "$REGISTRY_PID")
d0=$(cpu_ticks "$DAEMON_PID") r0=$(cpu_ticks "$REGISTRY_PID")
echo "idling $idle s …" >&2
sleep "$idle"
d1=$(cpu_ticks "$DAEMON_PID") r1=$(cpu_ticks "$REGISTRY_PID")
d_rss_after=$(rss_kb "$DAEMON_PID")

ref=$checkout/.git/refs/heads/main
now_ns() { date +%s%N; }
lat=()
echo "pushing $pushes tags …" >&2
for i in $(seq 1 "$pushes"); do
  before=$(cat "$ref")
  put_tag "$base" bench/r0 "1.0.$i"
  t0=$(now_ns)
  for _ in $(seq 2000); do
    read -r head < "$ref" || true
    [ "$head" != "$before" ] && break
    sleep 0.005
  done
  t1=$(now_ns)
  [ "$head" != "$before" ] || { echo "error: no commit for push $i" >&2; tail -20 "$work/daemon.log" >&2; exit 1; }
  lat+=("$(( (t1 - t0) / 1000000 ))")
done
grep -q "1.0.$pushes" "$checkout/deploy/r0.yml" || { echo "error: r0.yml lacks 1.0.$pushes" >&2; exit 1; }

s=$(now_ns); kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; e=$(now_ns); DAEMON_PID=
stop_ms=$(( (e - s) / 1000000 ))

# Baseline: the same kind of change picked up by `deckhand sync` run by hand right after a push.
sync_lat=()
for i in $(seq 1 5); do
  put_tag "$base" bench/r1 "1.1.$i"
  s=$(now_ns)
  (cd "$checkout" && "$deckhand" sync 2> /dev/null)
  e=$(now_ns)
  sync_lat+=("$(( (e - s) / 1000000 ))")
done

pct() { # pct P values… — nearest-rank percentile
  local p=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v p="$p" '{v[NR]=$1} END {i=int((p*NR+99)/100); if (i<1) i=1; print v[i]}'
}
mb() { awk "BEGIN{printf \"%.1f\", $1 / 1024}"; }
ms() { awk "BEGIN{printf \"%.0f\", $1 * 1000 / $hz}"; }
echo
printf 'repositories: %s; pushes: %s; idle window: %s s\n' "$repos" "$pushes" "$idle"
printf '%-44s %12s %14s\n' "" "deckhand run" "docker-registry"
printf '%-44s %9s MB %11s MB\n' "idle resident memory (VmRSS)" "$(mb "$d_rss")" "$(mb "$r_rss")"
printf '%-44s %9s MB\n' "  … after the idle window" "$(mb "$d_rss_after")"
printf '%-44s %9s ms %11s ms\n' "CPU time over the idle window (user+sys)" "$(ms $((d1 - d0)))" "$(ms $((r1 - r0)))"
printf 'targets: RSS <= 20 MB, idle CPU ~ 0\n\n'
printf 'push -> commit through /hooks/registry: p50 %s ms, p99 %s ms, max %s ms (target <= 1000 ms)\n' \
  "$(pct 50 "${lat[@]}")" "$(pct 99 "${lat[@]}")" "$(pct 100 "${lat[@]}")"
printf 'baseline, `deckhand sync` by hand after a push (whole pass over %s repositories): p50 %s ms, max %s ms\n' \
  "$repos" "$(pct 50 "${sync_lat[@]}")" "$(pct 100 "${sync_lat[@]}")"
printf 'shutdown on SIGTERM: %s ms\n' "$stop_ms"
