#!/usr/bin/env bash
# Rollout of one service from v1 to v2: `deckhand rollout` (API mode, settle: 0s, an image
# without a healthcheck) side by side with `docker-compose up -d` doing the same change on an
# identical stack (named volume, user network with an alias, a port, an env var). Both images are
# already in the engine and in a loopback registry; deckhand still asks the registry (its pull),
# compose does not. Prints the median and best of each and the ratio of the medians (target:
# deckhand <= 1.0 x compose). Usage: benches/rollout.sh [ROUNDS]
#
# Needs a Docker engine (started here if none answers, and stopped again), docker-compose,
# busybox-static and docker-registry. Everything it creates carries the label deckhand.bench=<run>
# and is removed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
rounds=${1:-7}
ensure_packages docker-registry:docker-registry curl:curl dockerd:docker.io \
  docker-compose:docker-compose busybox-static:busybox-static
(cd "$top" && cargo build --release --quiet)
deckhand=$top/target/release/deckhand

work=$(mktemp -d)
run=dhbench$$
REGISTRY_PID= DOCKERD_PID=
cleanup() {
  local rc=$?
  for p in "${run}c" "${run}d"; do
    [ -f "$work/$p/docker-compose.yml" ] &&
      (cd "$work/$p" && docker-compose -p "$p" down -v -t 1 >/dev/null 2>&1 || true)
  done
  docker ps -aq --filter "label=deckhand.bench=$run" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker images -q --filter "label=deckhand.bench=$run" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  [ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true
  [ -z "$DOCKERD_PID" ] || { as_root kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true; }
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
start_dockerd_if_needed
port=$(free_port 5600)
start_registry "$work/registry" "$port"
host=127.0.0.1:$port

echo "building and pushing $host/bench/app:v1 and :v2 …" >&2
mkdir -p "$work/img"
cp /bin/busybox "$work/img/busybox"
for v in v1 v2; do
  cat > "$work/img/Dockerfile.$v" <<EOF
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL deckhand.bench=$run
ENV APP_VERSION=$v
CMD ["/bin/sh", "-c", "mkdir -p /www && echo \$APP_VERSION > /www/version && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
EOF
  docker build -q -f "$work/img/Dockerfile.$v" -t "$host/bench/app:$v" "$work/img" >/dev/null 2>&1
  docker push -q "$host/bench/app:$v" >/dev/null
done

compose_file() { # TAG PORT
  cat <<EOF
services:
  web:
    image: $host/bench/app:$1
    restart: unless-stopped
    environment: { GREETING: hello }
    ports: ["127.0.0.1:$2:8080"]
    volumes: [data:/data]
    networks:
      appnet: { aliases: [webalias] }
    labels: { deckhand.bench: $run }
networks:
  appnet: { labels: { deckhand.bench: $run } }
volumes:
  data: { labels: { deckhand.bench: $run } }
EOF
}

port_c=$(free_port 5700)
port_d=$(free_port 5800)
declare -A ports=([c]=$port_c [d]=$port_d)
for side in c d; do
  p=$run$side
  mkdir -p "$work/$p"
  compose_file v1 "${ports[$side]}" > "$work/$p/docker-compose.yml"
  (cd "$work/$p" && docker-compose -p "$p" up -d >/dev/null 2>&1)
done
cat > "$work/deckhand.yaml" <<EOF
rollout:
  projects:
    - { file: $work/${run}d/docker-compose.yml, name: ${run}d, settle: 0s }
EOF

now() { date +%s.%N; }
serving() { curl -sf --max-time 2 "http://127.0.0.1:$1/version" || true; }
set_tag() { compose_file "$2" "${ports[$1]}" > "$work/$run$1/docker-compose.yml"; }
reset_v1() { # SIDE — back to v1, untimed
  set_tag "$1" v1
  (cd "$work/$run$1" && docker-compose -p "$run$1" up -d >/dev/null 2>&1)
  check_serving "$1" v1
}
check_serving() { # SIDE VERSION
  local got
  for _ in $(seq 50); do got=$(serving "${ports[$1]}"); [ "$got" = "$2" ] && return 0; sleep 0.1; done
  echo "error: side $1 does not serve $2 (got '$got')" >&2; exit 1
}

c_times=() d_times=()
for i in $(seq "$rounds"); do
  for side in $( ((i % 2)) && echo "c d" || echo "d c"); do
    reset_v1 "$side"
    set_tag "$side" v2
    s=$(now)
    if [ "$side" = c ]; then
      (cd "$work/${run}c" && docker-compose -p "${run}c" up -d >/dev/null 2>"$work/c.log")
    else
      (cd "$work" && "$deckhand" rollout --state-dir "$work/state" 2>"$work/d.log") ||
        { cat "$work/d.log" >&2; exit 1; }
    fi
    e=$(now)
    check_serving "$side" v2
    t=$(awk "BEGIN{print $e - $s}")
    if [ "$side" = c ]; then c_times+=("$t"); else d_times+=("$t"); fi
  done
done
grep -q "1 updated" "$work/d.log" || { echo "error: deckhand did not update:" >&2; cat "$work/d.log" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
best() { sort -g | head -1; }
cm=$(printf '%s\n' "${c_times[@]}" | median) cb=$(printf '%s\n' "${c_times[@]}" | best)
dm=$(printf '%s\n' "${d_times[@]}" | median) db=$(printf '%s\n' "${d_times[@]}" | best)
printf 'one service v1 -> v2, %s rounds each, interleaved (engine %s, docker-compose %s)\n' "$rounds" \
  "$(docker version --format '{{.Server.Version}}')" "$(docker-compose version --short)"
printf 'docker-compose up -d:   median %.3f s   best %.3f s\n' "$cm" "$cb"
printf 'deckhand rollout:       median %.3f s   best %.3f s   (pull check + recreate, settle 0s)\n' "$dm" "$db"
printf 'ratio deckhand/compose: %.2f (medians; target <= 1.0)\n' "$(awk "BEGIN{print $dm / $cm}")"
