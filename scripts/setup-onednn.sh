#!/usr/bin/env bash
# Installs oneDNN 3.2 (Intel's PyPI wheels onednn-cpu-gomp and onednn-devel-cpu-gomp
# 2023.2.0: libdnnl.so.3 for GNU OpenMP and its headers) into .deps/onednn, the prefix
# Package.swift builds against with GANNET_ONEDNN=3. Pinned by SHA-256; idempotent.
# Usage: scripts/setup-onednn.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.deps/onednn"
stamp="oneDNN 3.2.0 (onednn-cpu-gomp 2023.2.0)"
[ -f "$prefix/VERSION" ] && [ "$(cat "$prefix/VERSION")" = "$stamp" ] && exit 0
fallback() { echo "setup-onednn: $1" >&2; exit 1; }
[ "$(uname -sm)" = "Linux x86_64" ] || fallback "oneDNN 3.2 wheels are for x86-64 Linux"
command -v python3 >/dev/null || fallback "no python3 to fetch oneDNN 3.2 with"
work="$(mktemp -d "$root/.deps.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat >"$work/requirements.txt" <<'REQ'
onednn-cpu-gomp==2023.2.0 --hash=sha256:2f22a54d6a890ed14bfa185d42a4be65d8b5b1df85dc1f0f3a9abe31620416fb
onednn-devel-cpu-gomp==2023.2.0 --hash=sha256:9763c69e8c907e119056bd52ad918ca84ac9ba939d130a99dfa95ccca3e5e284
REQ
echo "setup-onednn: fetching oneDNN 3.2 (39 MB) into .deps/onednn" >&2
python3 -m pip download --quiet --no-deps --require-hashes -r "$work/requirements.txt" -d "$work/wheels" \
  >"$work/pip.log" 2>&1 || fallback "could not fetch oneDNN 3.2 from PyPI ($(tail -1 "$work/pip.log"))"
# A wheel is a zip; its .data/data/ tree is the install prefix. The library is stored three
# times (libdnnl.so, .so.3, .so.3.2): keep one file and link the names to it.
python3 - "$work/wheels" "$work/prefix" <<'PY'
import os, sys, zipfile, glob
wheels, prefix = sys.argv[1], sys.argv[2]
for wheel in glob.glob(os.path.join(wheels, "*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.infolist():
            parts = entry.filename.split("/")
            if len(parts) < 3 or not parts[0].endswith(".data") or parts[1] != "data" or entry.is_dir():
                continue
            path = "/".join(parts[2:])
            if path.startswith("lib/cmake/") or path in ("lib/libdnnl.so", "lib/libdnnl.so.3"):
                continue
            target = os.path.join(prefix, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(entry) as source, open(target, "wb") as sink:
                sink.write(source.read())
os.symlink("libdnnl.so.3.2", os.path.join(prefix, "lib", "libdnnl.so.3"))
os.symlink("libdnnl.so.3", os.path.join(prefix, "lib", "libdnnl.so"))
PY
[ -f "$work/prefix/include/oneapi/dnnl/dnnl.h" ] && [ -f "$work/prefix/lib/libdnnl.so.3.2" ] \
  || fallback "the oneDNN 3.2 wheels did not hold the expected files"
echo "$stamp" >"$work/prefix/VERSION"
rm -rf "$prefix"; mkdir -p "$root/.deps"
mv "$work/prefix" "$prefix"
echo "setup-onednn: oneDNN 3.2 installed in .deps/onednn" >&2
