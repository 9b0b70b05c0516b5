#!/usr/bin/env bash
# Fuzz each target briefly (FUZZTIME, default 10s): the desired-state builder
# and the manifest reader must not panic, must be deterministic, and must put
# every real server under a virtual server the ledger records. The seed
# corpus (testdata/fuzz/) also runs as plain tests in hack/unit.sh. A failure
# leaves its input in testdata/fuzz/<target>/ : commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
targets=(
  "./desired FuzzBuild"
  "./manifest FuzzLoad"
  "./manifest FuzzSplitYAML"
)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "fuzz: $name in $pkg for $FUZZTIME"
  go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME"
done
echo "fuzz: ok"
