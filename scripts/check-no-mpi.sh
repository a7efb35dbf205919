#!/usr/bin/env bash
# Builds Gannet as on a machine without Open MPI (pkg-config does not find ompi-c, so
# <mpi.h> is not visible) and checks that it trains single-process and that a run under
# mpirun is refused with a message. Usage: scripts/check-no-mpi.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$root" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$work"
sed -i 's/pkgConfig: "ompi-c"/pkgConfig: "gannet-no-mpi"/' "$work/Package.swift"
(cd "$work" && swift build -c release 2>&1 | grep -E "error|Build complete")
gannet="$work/.build/release/gannet"
if ldd "$gannet" | grep -q libmpi; then echo "check-no-mpi: the binary links libmpi" >&2; exit 1; fi
"$gannet" bench train --network inception-bn-small --batch-size 4 --iterations 1 --runs 1 --json >/dev/null 2>&1
if command -v mpirun >/dev/null; then
  as_root=""; [ "$(id -u)" -eq 0 ] && as_root="--allow-run-as-root"
  if output=$(mpirun $as_root --oversubscribe -np 2 "$gannet" bench train --network inception-bn-small \
      --batch-size 4 --iterations 1 --runs 1 2>&1); then
    echo "check-no-mpi: a run under mpirun was not refused" >&2; exit 1
  fi
  grep -q "built without MPI support" <<<"$output" || { echo "check-no-mpi: no message: $output" >&2; exit 1; }
fi
echo "check-no-mpi: builds and trains without MPI; mpirun is refused with a message"
