#!/usr/bin/env bash
# Benchmarks of the pure pipeline and the fake-kernel syncs (figures in README).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-3x}" ./desired/ ./state/ ./controllers/
