#!/usr/bin/env bash
# End-to-end checks through the built binary: help texts and the JSON contract of
# `gannet bench ops` on one operator.
set -euo pipefail
gannet="${1:-.build/release/gannet}"
"$gannet" --help | grep -q "Example"
"$gannet" bench ops --help | grep -q "gannet bench ops"
if "$gannet" bench ops --runs 0 2>/dev/null; then echo "cli-smoke: --runs 0 was accepted" >&2; exit 1; fi
# Exit statuses: 2 for bad usage, 1 for a runtime failure.
set +e
"$gannet" export --network nope --output /tmp/x 2>/dev/null; usage=$?
"$gannet" export --network inception-bn --pooling valid --output "${TMPDIR:-/tmp}/gannet-smoke-bad" 2>/dev/null; failure=$?
set -e
[ "$usage" -eq 2 ] || { echo "cli-smoke: bad usage exited $usage, expected 2" >&2; exit 1; }
[ "$failure" -eq 1 ] || { echo "cli-smoke: runtime failure exited $failure, expected 1" >&2; exit 1; }
out="$(mktemp -d)"
"$gannet" export --network inception-bn --init --seed 1 --output "$out/inception-bn" --json | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["arguments"] == 280 and report["auxiliary"] == 138, report
symbol = json.load(open(report["symbol"]))
assert symbol["attrs"]["mxnet_version"] == ["int", 10901] and len(symbol["node_row_ptr"]) == len(symbol["nodes"]) + 1
params = open(report["parameters"], "rb").read()
assert params[:8] == bytes.fromhex("1201000000000000") and b"arg:fc1_weight" in params and b"aux:bn_conv1_moving_var" in params
print("cli-smoke: export ok")
'
"$gannet" plan --network "$out/inception-bn-symbol.json" --batch-size 2 --json | python3 -c '
import json, sys
plan = json.load(sys.stdin)
assert len(plan["arguments"]) == 280 and len(plan["auxiliary"]) == 138, plan.keys()
assert plan["parameters"] == 11295240 and plan["output"] == [[2, 1000]], plan["parameters"]
assert plan["arguments"][0] == {"name": "data", "shape": [2, 3, 224, 224]}, plan["arguments"][0]
assert all(plan["plan"][k] > 0 for k in ("weights-mib", "gradients-mib", "activations-mib", "total-mib")), plan["plan"]
print("cli-smoke: plan ok")
'
rm -rf "$out"
"$gannet" bench train --network inception-bn-small --batch-size 4 --iterations 1 --runs 2 --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["network"] == "inception-bn-small" and report["batch-size"] == 4 and report["mode"] == "train", report
assert report["samples-per-second"] > 0 and len(report["runs"]) == 2 and report["peak-rss-mib"] > 0, report
assert report["layout"] == "blocked", report
assert report["gflops"] > 0 and set(report["plan"]) == {"weights-mib", "activations-mib", "workspace-mib"}, report
print("cli-smoke: bench train ok (%.1f img/s)" % report["samples-per-second"])
'
"$gannet" bench memory --network inception-bn-small --budget-gib 0.4 --batches 4,8,512 --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["largest-batch"] == 8, report
assert [p["batch-size"] for p in report["probes"]] == [4, 8, 512], report
assert report["probes"][2]["peak-rss-mib"] is None or report["probes"][2]["peak-rss-mib"] > 0.4 * 1024, report
print("cli-smoke: bench memory ok")
'
"$gannet" bench ops --preset short --runs 2 --only alexnet.conv3 --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["roof-gflops"] > 0, report
passes = {o["pass"] for o in report["operators"]}
assert passes == {"forward", "backward-data", "backward-weights"}, passes
for o in report["operators"]:
    assert o["name"] == "alexnet.conv3" and o["op"] == "Convolution" and o["batch"] == 64, o
    assert o["gflops"] > 0 and o["gbps"] is None and len(o["runs"]) == 2, o
    assert o["implementation"] and o["format"], o
print("cli-smoke: bench ops JSON ok (%.0f GFLOPS roof)" % report["roof-gflops"])
'
