#!/usr/bin/env bash
# Manifest scan benchmark: deckhand's discover + scan + plan vs `grep -rlF '$imagepolicy'` over the
# same tree (default: 10,000 YAML files, ~100 MB, 1% carrying markers; generated deterministically by
# benches/gen_tree.py and reused while its parameters are unchanged).
#
# Prints the best-of-3 wall time and peak RSS of each, the time ratio and the targets
# (ratio <= 2.0, RSS <= 64 MB). It reports; it does not fail on a missed target.
#
# Environment:
#   DECKHAND_SCAN_TREE   where the tree lives   (default: ${TMPDIR:-/tmp}/deckhand-scan-tree)
#   DECKHAND_CRATE_DIR   crate to build from    (default: the folder above this script)
#   CARGO_TARGET_DIR     honoured by cargo as usual
#   SCAN_FILES, SCAN_MEGABYTES, SCAN_MARKED_PERCENT   tree shape (defaults 10000, 100, 1)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
crate=${DECKHAND_CRATE_DIR:-$(dirname "$here")}
tree=${DECKHAND_SCAN_TREE:-${TMPDIR:-/tmp}/deckhand-scan-tree}
runs=3

for tool in python3 grep cargo /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "scan.sh: $tool is required" >&2; exit 2; }
done

python3 "$here/gen_tree.py" "$tree" \
    --files "${SCAN_FILES:-10000}" \
    --megabytes "${SCAN_MEGABYTES:-100}" \
    --marked-percent "${SCAN_MARKED_PERCENT:-1}"

echo "building the scan driver (release) in $crate ..."
bin=$(cd "$crate" && cargo bench --bench scan_tree --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "scan_tree":
        print(m["executable"])')
[ -x "$bin" ] || { echo "scan.sh: could not build benches/scan_tree.rs" >&2; exit 2; }

stats=$(mktemp)
out=$(mktemp)
trap 'rm -f "$stats" "$out"' EXIT

# best_of CMD...: runs CMD $runs times; sets best_wall (s, from bash's microsecond clock) and
# peak_rss (KB, from /usr/bin/time); the last run's stdout stays in $out.
best_of() {
    best_wall=""; peak_rss=0
    for _ in $(seq "$runs"); do
        local t0=$EPOCHREALTIME
        /usr/bin/time -f '%M' -o "$stats" "$@" >"$out" || true
        local t1=$EPOCHREALTIME
        local wall rss
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
        rss=$(tail -n 1 "$stats")
        if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall=$wall
        fi
        if [ "$rss" -gt "$peak_rss" ]; then peak_rss=$rss; fi
    done
}

report() { # NAME WALL RSS_KB DETAIL
    printf '%-14s best of %d: %7.3f s   peak RSS %6.1f MB   %s\n' "$1" "$runs" "$2" \
        "$(awk -v k="$3" 'BEGIN { print k / 1024 }')" "$4"
}

# Warm the page cache so both sides read from memory.
grep -rlF '$imagepolicy' "$tree" >/dev/null || true

echo "tree: $tree ($(find "$tree" -type f -name '*.y*ml' | wc -l) files, $(du -sm "$tree" | cut -f1) MB on disk)"
best_of grep -rlF '$imagepolicy' "$tree"
grep_wall=$best_wall; grep_rss=$peak_rss
report "grep -rlF" "$grep_wall" "$grep_rss" "$(wc -l <"$out") files listed"
best_of env DECKHAND_SCAN_TREE="$tree" "$bin"
scan_wall=$best_wall; scan_rss=$peak_rss
report "deckhand scan" "$scan_wall" "$scan_rss" "$(tail -n 1 "$out")"

awk -v s="$scan_wall" -v g="$grep_wall" -v r="$scan_rss" 'BEGIN {
    ratio = (g > 0) ? s / g : 0
    rss = r / 1024
    printf "ratio deckhand/grep: %.2f (target <= 2.0: %s)\n", ratio, (ratio <= 2.0) ? "met" : "MISSED"
    printf "deckhand peak RSS: %.1f MB (target <= 64 MB: %s)\n", rss, (rss <= 64) ? "met" : "MISSED"
}'
