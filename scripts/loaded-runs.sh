#!/usr/bin/env bash
# Runs the whole suite N times in a row (default 3) while two busy loops keep both cores at 100%, in a
# throw-away clone of a commit (default HEAD) — the check that no test depends on wall-clock speed.
#
#   scripts/loaded-runs.sh [COMMIT] [N]
#
# Prints one line per run: exit status, seconds, and the runner's pass/fail counts.
set -u
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMMIT="${1:-HEAD}"
RUNS="${2:-3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/loaded.XXXXXX")"
cleanup() {
  [ -n "${B1:-}" ] && kill "$B1" 2>/dev/null
  [ -n "${B2:-}" ] && kill "$B2" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
git clone --quiet --no-local "$SRC" "$WORK/clone"
cd "$WORK/clone" && git checkout --quiet --detach "$(git -C "$SRC" rev-parse "$COMMIT")"
npm ci >/dev/null 2>&1 && npm run build >/dev/null 2>&1 || { echo "loaded-runs: setup failed" >&2; exit 1; }
node -e 'for(;;){}' & B1=$!
node -e 'for(;;){}' & B2=$!
echo "loaded-runs: $(git rev-parse --short HEAD), busy loops $B1 $B2"
status=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  npm test >"$WORK/run-$i.log" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] && status=1
  echo "run $i: exit $rc, $(($(date +%s) - start)) s, $(grep -E '^ℹ (pass|fail)' "$WORK/run-$i.log" | tr '\n' ' ')"
done
exit "$status"
