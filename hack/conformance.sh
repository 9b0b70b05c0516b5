#!/usr/bin/env bash
# The differential conformance suite alone (make conformance): kube-proxy
# v1.37.2 in IPVS mode and ipvs-proxy, each in its own network namespace of
# the hack/sandbox guest, both the node "conf-node" of one API server, over
# the corpus of test/conformance; their ipvsadm -Sn, kube-ipvs0 addresses
# and ipset members must agree up to test/conformance/allowlist.yaml.
# See README.md, "Conformance".
#
#   hack/conformance.sh
#
# It is hack/e2e.sh without the kernel adapter tests and the e2e tests (same
# control plane, same VM boot; make test runs the suite inside make e2e).
# Environment: as hack/e2e.sh (E2E_PORT, E2E_KEEP, E2E_IMAGE, ...).
# Artifacts: _output/e2e/artifacts/conformance/ (dumps and diff per phase,
# corpus.yaml, both proxies' logs).
set -euo pipefail
cd "$(dirname "$0")/.."
export E2E_SKIP_KERNEL=1 E2E_SKIP_E2E=1 E2E_CONFORMANCE=1
exec hack/e2e.sh "$@"
