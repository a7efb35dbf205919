#!/usr/bin/env bash
# The test suite, the CLI checks and the hostile-input checks under ThreadSanitizer (the
# iterator's decode threads, verify's and pack's workers, the MPI gradient exchange) and
# AddressSanitizer (the C codec shims, the parsers). Any report fails the run.
# Usage: scripts/sanitize.sh [thread|address ...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
# halt_on_error: the first report ends the process with a non-zero status, so every check fails.
export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
# XCTest's runner keeps a few objects alive at exit; leaks are not what this checks.
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=0"
for sanitizer in "${@:-thread address}"; do
  for s in $sanitizer; do
    scratch=".build-${s:0:1}san"
    flags=(-c release -Xswiftc -enable-testing -Xswiftc "-sanitize=$s" --scratch-path "$scratch")
    echo "sanitize: building with -sanitize=$s" >&2
    swift build --build-tests "${flags[@]}" 2>&1 | grep -E "error|Build complete" >&2
    swift test --skip-build "${flags[@]}" 2>&1 | grep -E "Test run with|Sanitizer" >&2
    bash scripts/cli-smoke.sh "$scratch/release/gannet" >/dev/null
    python3 scripts/hostile_checks.py "$scratch/release/gannet" >/dev/null
    echo "sanitize: $s: suite, CLI checks and hostile-input checks clean" >&2
  done
done
