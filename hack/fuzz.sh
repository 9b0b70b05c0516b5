#!/usr/bin/env bash
# Fuzz each target briefly: the desired-state builder and the manifest reader
# must not panic, must be deterministic, and must put every real server under
# a virtual server the ledger records. The seed corpus (testdata/fuzz/) also
# runs as plain tests in hack/unit.sh. A failure leaves its input in
# testdata/fuzz/<target>/ : commit it with the fix.
#
# Budgets are execution counts (-fuzztime Nx), each about 10 s on an idle
# 2-core machine, not durations: with a duration, Go's fuzz coordinator can
# report a spurious "context deadline exceeded" at the deadline
# (golang/go#75804, not fixed in Go 1.26). FUZZ_SCALE multiplies every count.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${FUZZ_SCALE:-1}
targets=(
  "./desired FuzzBuild 30000"
  "./manifest FuzzLoad 15000"
  "./manifest FuzzSplitYAML 60000"
)
for t in "${targets[@]}"; do
  read -r pkg name execs <<<"$t"
  n=$((execs * SCALE))
  echo "fuzz: $name in $pkg for ${n} executions"
  go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "${n}x"
done
echo "fuzz: ok (${SECONDS}s)"
