#!/bin/sh
# Runs the reliability scenarios of issue 5 (docs/reliability.md), one at a time, and prints
# their results as a markdown table. Usage: npm run reliability [-- <name filter>...]
#
# As root (or with passwordless sudo) the suite runs inside a fresh network namespace
# (`unshare --net`): its own loopback, where the network scenarios add nftables rules that die
# with the namespace. Otherwise the network scenarios are skipped, loudly. They need the
# `nftables` and `iproute2` packages.
set -eu
cd "$(dirname "$0")/.."
dir=packages/gossamer/test/reliability/scenarios
files=""
for f in "$dir"/*.test.ts; do
  if [ "$#" -eq 0 ]; then
    files="$files $f"
  else
    for want in "$@"; do
      case "$f" in *"$want"*) files="$files $f" ;; esac
    done
  fi
done
if [ -z "$files" ]; then
  echo "no scenario matches: $*" >&2
  exit 1
fi
export GOSSAMER_RELIABILITY=1
results="${GOSSAMER_RELIABILITY_RESULTS:-$(mktemp /tmp/gossamer-reliability-XXXXXX.jsonl)}"
export GOSSAMER_RELIABILITY_RESULTS="$results"
run="node --import tsx --test --test-concurrency=1 --test-reporter=spec $files"
inner="ip link set lo up && GOSSAMER_RELIABILITY_NETNS=1 exec $run"
status=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
  unshare --net -- sh -c "$inner" || status=$?
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -E env "PATH=$PATH" unshare --net -- sh -c "$inner" || status=$?
else
  echo "*** not root and no sudo: the network scenarios (partition, packet-loss) will be SKIPPED ***" >&2
  $run || status=$?
fi
node --import tsx scripts/reliability-table.ts "$results"
exit "$status"
