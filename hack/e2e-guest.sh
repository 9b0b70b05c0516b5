#!/usr/bin/env bash
# Runs in the hack/sandbox guest (started by hack/e2e.sh): the kernel adapter
# tests, then the e2e tests (test/e2e). Prints each test's result, writes
# $E2E_ARTIFACTS/summary.txt, ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${E2E_BIN:-$ROOT/_output/e2e}
ART=${E2E_ARTIFACTS:?run through hack/e2e.sh}
SUMMARY=$ART/summary.txt
: >"$SUMMARY"
passed=0 failed=0 bad=0
# The image's iptables tools first (hack/e2e.sh), so ipvs-proxy execs those.
if [[ -n ${E2E_PATH_PREFIX:-} ]]; then
  export PATH=$E2E_PATH_PREFIX:$PATH
  echo "=== using the image: $E2E_IPVS_PROXY, $(command -v iptables-restore)" | tee -a "$SUMMARY"
fi

# run NAME DIR BINARY ARGS...: runs a go test binary in its package folder
# with -test.v, logs to $ART/NAME.log, counts --- PASS / --- FAIL lines. A
# skipped test fails the run: in the guest every kernel test must run (a
# sandbox without IPVS, ipsets or iptables must be red, not green). Host-only
# tests are excluded with -test.skip by the caller instead.
run() {
  local name=$1 dir=$2 bin=$3; shift 3
  local log=$ART/$name.log t0=$SECONDS rc p f
  echo "=== $name" | tee -a "$SUMMARY"
  (cd "$dir" && "$bin" -test.v -test.count=1 "$@") >"$log" 2>&1
  rc=$?
  grep -E '^\s*--- (PASS|FAIL|SKIP)' "$log" | sed 's/^/  /' | tee -a "$SUMMARY"
  grep -E '^programming latency:' "$log" | tee -a "$SUMMARY"
  p=$(grep -cE '^\s*--- PASS' "$log")
  f=$(grep -cE '^\s*--- FAIL' "$log")
  s=$(grep -cE '^\s*--- SKIP' "$log")
  if [[ $s -gt 0 ]]; then
    echo "  $name: $s test(s) skipped in the guest, where every test must run: counted as failed" | tee -a "$SUMMARY"
    f=$((f + s))
  fi
  passed=$((passed + p)) failed=$((failed + f))
  if [[ $rc -ne 0 ]]; then
    bad=1
    if [[ $f -eq 0 ]]; then
      failed=$((failed + 1))
      echo "  $name: exit $rc without a failed test (setup/panic/timeout):" | tee -a "$SUMMARY"
      tail -n 20 "$log" | sed 's/^/    /' | tee -a "$SUMMARY"
    fi
  fi
  echo "  $name: exit $rc, $p passed, $f failed, $((SECONDS - t0))s (log $log)" | tee -a "$SUMMARY"
}

if [[ ${E2E_SKIP_KERNEL:-0} != 1 ]]; then
  # TestNewWithoutIPVS checks the refusal on a kernel without IPVS: host only.
  run ipvs ipvs "$BIN/ipvs.test" -test.timeout 600s -test.skip '^TestNewWithoutIPVS$'
  run ipset ipset "$BIN/ipset.test" -test.timeout 600s
  run netif netif "$BIN/netif.test" -test.timeout 600s
  rules_args=()
  # Both iptables backends take ~5 min under TCG; nft (Debian's default,
  # what ipvs-proxy uses here) is enough unless E2E_FULL=1.
  [[ ${E2E_FULL:-0} == 1 ]] || rules_args=(-test.skip '^TestKernel$/^legacy/')
  run rules rules "$BIN/rules.test" -test.timeout 900s "${rules_args[@]}"
  run cleanup cleanup "$BIN/cleanup.test" -test.timeout 600s
  run conntrack conntrack "$BIN/conntrack.test" -test.timeout 600s -test.run Kernel
  # The Reconciler against the real adapters (ledger repair in place).
  run controllers controllers "$BIN/controllers.test" -test.timeout 600s -test.run Kernel
fi
# The differential suite against kube-proxy (README "Conformance"), in its
# own network namespaces, before the e2e: both proxies see every Service of
# the API server, and the suite deletes its objects when done, so neither
# sees the other's.
if [[ ${E2E_CONFORMANCE:-1} == 1 ]]; then
  run conformance test/conformance "$BIN/test-conformance.test" -test.timeout 900s
fi
if [[ ${E2E_SKIP_E2E:-0} != 1 ]]; then
  e2e_args=()
  [[ -n ${E2E_RUN:-} ]] && e2e_args=(-test.run "$E2E_RUN")
  # E2E_NOT_RUN=REGEXP leaves tests out (-test.skip).
  not_run=${E2E_NOT_RUN-}
  [[ -n $not_run ]] && e2e_args+=(-test.skip "$not_run")
  # 2400 s: the reliability tests under load add about ten minutes.
  run e2e test/e2e "$BIN/test-e2e.test" -test.timeout 2400s "${e2e_args[@]}"
fi

echo "$passed passed, $failed failed" | tee -a "$SUMMARY"
[[ $bad -eq 0 && $failed -eq 0 ]]
