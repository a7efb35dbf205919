#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (AddressSanitizer + coverage, libFuzzer's driver
# without its main) and runs each for FUZZ_SECONDS (default 60) from its committed seed
# corpus, with a 1 GiB RSS limit: an input that crashes, leaks past the limit or hangs for
# 10 s is saved under Fuzz/crashes/TARGET/ and fails the run.
# Usage: scripts/fuzz.sh [TARGET ...]   (default: every target)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
targets=("${@:-recordio header lst idx symbol ndarray state image}")
library="$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)"
[ -n "$library" ] || library="$(find / -name 'libclang_rt.fuzzer_no_main-x86_64.a' 2>/dev/null | head -1)"
[ -n "$library" ] || { echo "fuzz: libFuzzer (libclang_rt.fuzzer_no_main) not found in the toolchain" >&2; exit 1; }
cd "$root/Fuzz"
swift build -c release -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  -Xlinker "$library" -Xlinker -lstdc++ 2>&1 | grep -E "error|Build complete" >&2
binary="$root/Fuzz/.build/release/GannetFuzz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for target in ${targets[*]}; do
  mkdir -p "$work/$target" "$root/Fuzz/crashes/$target"
  cp "$root/Fuzz/corpus/$target/"* "$work/$target/"
  log="$work/$target.log"
  # Leaks are not what this looks for; a report or a signal ends the run with an artefact.
  if GANNET_FUZZ_TARGET="$target" ASAN_OPTIONS="detect_leaks=0" "$binary" "$work/$target" \
      -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$root/Fuzz/crashes/$target/" >"$log" 2>&1; then
    runs=$(grep -m1 "stat::number_of_executed_units" "$log" | awk '{print $2}')
    rss=$(grep -m1 "stat::peak_rss_mb" "$log" | awk '{print $2}')
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s, peak RSS ${rss:-?} MiB, no crash"
  else
    failed=1
    echo "fuzz: $target: FAILED ($(grep -m1 -E "ERROR|==[0-9]+==|deadly|out-of-memory|timeout" "$log" || tail -1 "$log"))"
    ls "$root/Fuzz/crashes/$target/" >&2
  fi
done
exit $failed
