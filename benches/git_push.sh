#!/usr/bin/env bash
# Git remote round trip: in a repository of FILES files and COMMITS commits with a bare remote
# (file://), deckhand's fetch + fast-forward + one edit + commit + push (`deckhand sync`, which
# also asks a loopback registry for the tag), side by side with the same job done by hand:
# `git pull --ff-only && <edit> && git commit && git push`. Before every round a person pushes a
# commit, so both sides have something to fetch. Prints each round, the medians and the ratio
# (target: deckhand ≤ 1.0 × git). Usage: benches/git_push.sh [FILES] [COMMITS] [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
files=${1:-10000} commits=${2:-1000} rounds=${3:-10}
ensure_packages docker-registry:docker-registry curl:curl git:git python3:python3
(cd "$top" && cargo build --release --quiet)
deckhand=$top/target/release/deckhand

work=$(mktemp -d)
export IMAGE_DIR=$work/img
REGISTRY_PID=
trap '[ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(free_port 5600)
start_registry "$work/registry" "$port"
base=http://127.0.0.1:$port
host=127.0.0.1:$port
push_image "$base" bench/app v0

export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=person GIT_AUTHOR_EMAIL=p@example.org \
  GIT_COMMITTER_NAME=person GIT_COMMITTER_EMAIL=p@example.org

echo "generating $files files and $commits commits …" >&2
git init -q --bare -b main "$work/remote.git"
# A fast-import stream: one commit with every file, then commits changing ten files each.
python3 - "$files" "$commits" "$host" <<'PY' | git -C "$work/remote.git" fast-import --quiet
import random, sys
files, commits, host = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(42)
out = sys.stdout.buffer
def blob(text):
    data = text.encode()
    out.write(b"data %d\n" % len(data) + data + b"\n")
def path(i):
    return "tree/d%03d/f%05d.yaml" % (i % 100, i)
def body(i, rev):
    return "".join("key%d: value-%d-%d\n" % (k, i, rev) for k in range(20))
for c in range(commits):
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer person <p@example.org> %d +0000\n" % (1700000000 + c))
    msg = b"commit %d" % c
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    if c == 0:
        for i in range(files):
            out.write(("M 100644 inline %s\n" % path(i)).encode()); blob(body(i, 0))
        out.write(b"M 100644 inline deploy/app.yaml\n")
        blob('app:\n  image: %s/bench/app:v0 # {"$imagepolicy": "flux-system:app"}\n' % host)
        out.write(b"M 100644 inline deploy/baseline.yaml\n")
        blob("baseline:\n  image: example/baseline:v0\n")
        out.write(b"M 100644 inline person.txt\n"); blob("")
    else:
        for i in rng.sample(range(files), 10):
            out.write(("M 100644 inline %s\n" % path(i)).encode()); blob(body(i, c))
PY
url=file://$work/remote.git
for who in deckhand git person; do
  git clone -q -b main "$url" "$work/$who"
  git -C "$work/$who" config user.name "$who"; git -C "$work/$who" config user.email "$who@example.org"
done
cat > "$work/deckhand.yaml" <<YAML
registries: {"$host": {insecure: true}}
repositories: {app: {image: $host/bench/app}}
policies:
  app:
    repository: app
    filterTags: {pattern: '^v(?P<n>[0-9]+)$', extract: '\$n'}
    policy: {numerical: {order: asc}}
update: {path: $work/deckhand/deploy}
git:
  branch: main
  author: {name: deckhand, email: deckhand@example.org}
  push: {remote: origin}
YAML
echo "repository: $(git -C "$work/git" ls-files | wc -l) files, $(git -C "$work/git" rev-list --count HEAD) commits" >&2

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-6s %12s %12s\n' round deckhand_ms git_ms >&2
: > "$work/d.txt"; : > "$work/g.txt"
for r in $(seq 1 "$rounds"); do
  # A person's commit lands first; then a new tag for deckhand, a new value for the baseline.
  printf 'round %s\n' "$r" >> "$work/person/person.txt"
  git -C "$work/person" commit -qam "person $r"
  git -C "$work/person" pull -q --rebase && git -C "$work/person" push -q origin main
  put_tag "$base" bench/app "v$r"

  t0=$(now)
  (cd "$work/deckhand" && "$deckhand" -c "$work/deckhand.yaml" sync > /dev/null 2> "$work/d.log") \
    || { cat "$work/d.log" >&2; exit 1; }
  t1=$(now)
  (cd "$work/git" && git pull -q --ff-only &&
    sed -i "s|example/baseline:v[0-9]*|example/baseline:v$r|" deploy/baseline.yaml &&
    git commit -qam "Update baseline to v$r" && git push -q origin main)
  t2=$(now)
  d=$(ms "$t0" "$t1") g=$(ms "$t1" "$t2")
  echo "$d" >> "$work/d.txt"; echo "$g" >> "$work/g.txt"
  printf '%-6s %12s %12s\n' "$r" "$d" "$g" >&2
done

# Both sides' work is on the remote, once each per round.
landed=$(git -C "$work/remote.git" log --format=%s main | grep -c '^Update 1 image reference' || true)
[ "$landed" = "$rounds" ] || { echo "error: $landed deckhand commits on the remote, expected $rounds" >&2; exit 1; }
dm=$(median < "$work/d.txt") gm=$(median < "$work/g.txt")
echo "median: deckhand ${dm} ms, git pull+commit+push ${gm} ms, ratio $(awk -v d="$dm" -v g="$gm" 'BEGIN {printf "%.2f", d/g}') (target ≤ 1.0)"
