#!/usr/bin/env bash
# Regenerates Sources/Protos/*.pb.swift from scripts/protos/*.proto with protoc (Debian's
# protobuf-compiler) and swift-protobuf's protoc-gen-swift at the version Package.swift names,
# built once into .build-protoc. The generated files are committed: builds never run this.
# Usage: scripts/generate-protos.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=1.39.0
command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }
src="$root/.build-protoc/swift-protobuf"
if [ ! -x "$src/.build/release/protoc-gen-swift" ]; then
  rm -rf "$src"
  git clone -q --branch "$version" https://github.com/apple/swift-protobuf "$src"
  (cd "$src" && swift build -c release --product protoc-gen-swift)
fi
for proto in onnx tensorboard; do
  protoc --plugin="protoc-gen-swift=$src/.build/release/protoc-gen-swift" --swift_opt=Visibility=Public \
    --swift_out="$root/Sources/Protos" --proto_path="$root/scripts/protos" "$root/scripts/protos/$proto.proto"
done
