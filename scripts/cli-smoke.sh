#!/usr/bin/env bash
# End-to-end checks through the built binary: help texts, exit statuses, the data
# commands on a small synthetic image folder, and the JSON contracts of the benches.
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

# The data pipeline: synth → list → pack → verify / inspect / mean / bench io.
data="$(mktemp -d)"
"$gannet" synth "$data/images" --classes 3 --images-per-class 8 --size 40 2>/dev/null
"$gannet" list "$data/set" "$data/images" --recursive --train-ratio 0.75 2>/dev/null
[ "$(wc -l < "$data/set_train.lst")" -eq 18 ] && [ "$(wc -l < "$data/set_val.lst")" -eq 6 ] \
  && [ "$(wc -l < "$data/set.synset.txt")" -eq 3 ] || { echo "cli-smoke: list wrote the wrong files" >&2; exit 1; }
"$gannet" pack "$data/set_train" "$data/images" --resize 36 2>/dev/null
ls "$data" | grep -q tmp && { echo "cli-smoke: pack left a temporary file" >&2; exit 1; }
"$gannet" verify "$data/set_train.rec" --json | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["records"] == 18 and report["decoded"] == 18 and report["failed"] == [], report
assert report["labels"] == {"min": 0, "max": 2}, report
print("cli-smoke: list, pack, verify ok")
'
key="$(head -1 "$data/set_train.lst" | cut -f1)"
"$gannet" inspect "$data/set_train.rec" --record "$key" --save-image "$data/record.png" --json | python3 -c '
import json, sys
record = json.load(sys.stdin)
assert record["key"] == record["id"] == int(sys.argv[1]) and record["format"] == "jpeg" and record["channels"] == 3, record
assert min(record["width"], record["height"]) == 36 and record["offset"] == 0 and len(record["payload-sha256"]) == 64, record
print("cli-smoke: inspect ok")
' "$key"
[ -s "$data/record.png" ] || { echo "cli-smoke: inspect --save-image wrote nothing" >&2; exit 1; }
"$gannet" mean "$data/set_train.rec" --data-shape 3,32,32 --output "$data/mean.bin" 2>/dev/null
python3 -c '
import struct, sys
raw = open(sys.argv[1], "rb").read()
assert raw[:8] == bytes.fromhex("1201000000000000") and raw.endswith(b"mean_img"), raw[:16]
print("cli-smoke: mean ok")
' "$data/mean.bin"
"$gannet" bench io --data "$data/set_train.rec" --batch-size 4 --data-shape 3,32,32 --rand-crop --rand-mirror --epochs 2 --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["samples-per-second"] > 0 and len(report["runs"]) == 2 and report["threads"] >= 1, report
print("cli-smoke: bench io ok")
'
# A crashed writer: the truncated record is reported with its offset, exit status 1.
head -c -100 "$data/set_train.rec" > "$data/cut.rec"
set +e
"$gannet" verify "$data/cut.rec" --json > "$data/cut.json" 2>/dev/null; status=$?
set -e
[ "$status" -eq 1 ] || { echo "cli-smoke: verify of a truncated file exited $status, expected 1" >&2; exit 1; }
python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
assert report["decoded"] == 17 and len(report["failed"]) == 1 and "truncated" in report["failed"][0]["error"], report
print("cli-smoke: truncated file reported")
' "$data/cut.json"
rm -rf "$data"

# Training end to end on a tiny set: train, resume (bit-identical), score, predict, and
# MXNet's checkpoint files intact after a kill -9.
run="$(mktemp -d)"
"$gannet" synth "$run/images" --classes 3 --images-per-class 12 --size 30 2>/dev/null
"$gannet" list "$run/set" "$run/images" --recursive --train-ratio 0.75 2>/dev/null
"$gannet" pack "$run/set_train" "$run/images" --resize 28 2>/dev/null
"$gannet" pack "$run/set_val" "$run/images" --resize 28 2>/dev/null
common=(--network inception-bn-small --train "$run/set_train.rec" --val "$run/set_val.rec" --num-classes 3
        --data-shape 3,28,28 --batch-size 8 --lr 0.05 --rand-crop --rand-mirror --mean-rgb 128,128,128 --scale 0.0078125 --seed 7)
"$gannet" train "${common[@]}" --epochs 2 --model-prefix "$run/full" --plot --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert [e["epoch"] for e in report["epochs"]] == [0, 1] and report["checkpoint"].endswith("full-0002.params"), report
assert all(0 <= e["validation-accuracy"] <= 1 and e["samples-per-second"] > 0 for e in report["epochs"]), report
print("cli-smoke: train ok")
'
"$gannet" train "${common[@]}" --epochs 1 --model-prefix "$run/part" 2>/dev/null
"$gannet" train "${common[@]}" --epochs 2 --model-prefix "$run/part" --load-epoch 1 2>/dev/null
cmp "$run/full-0002.params" "$run/part-0002.params" || { echo "cli-smoke: a resumed run differs from the uninterrupted one" >&2; exit 1; }
[ "$(wc -l < "$run/part-metrics.csv")" -eq 3 ] && grep -q "<svg" "$run/full-curves.svg" || { echo "cli-smoke: metrics or curves missing" >&2; exit 1; }
echo "cli-smoke: resume bit-identical"
"$gannet" score --model "$run/full" --epoch 2 --data "$run/set_val.rec" --json | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["images"] == 9 and report["k"] == 5 and 0 <= report["top-1"] <= 1 and report["top-k"] == 1, report
print("cli-smoke: score ok")
'
"$gannet" predict --model "$run/full" --epoch 2 --synset "$run/set.synset.txt" --top-k 2 --json "$run/images/class_001/img_00003.jpg" | python3 -c '
import json, sys
prediction = json.load(sys.stdin)["predictions"][0]
assert len(prediction["probabilities"]) == 3 and abs(sum(prediction["probabilities"]) - 1) < 1e-4, prediction
assert len(prediction["top"]) == 2 and prediction["top"][0]["name"].startswith("class_"), prediction
print("cli-smoke: predict ok")
'
# A 2015-dialect checkpoint (StaticGraph JSON, legacy .params): the Pooling rounding comes
# from the parameter shapes (48 inputs to fc = 3·4·4 under 'full').
python3 - "$run" <<'PY'
import json, struct, sys
run = sys.argv[1]
nodes = [
    {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
    {"op": "Pooling", "param": {"kernel": "(3,3)", "pool_type": "max", "stride": "(2,2)", "pad": "(0,0)"},
     "name": "pool", "inputs": [[0, 0]], "backward_source_id": -1},
    {"op": "Flatten", "param": {}, "name": "flatten", "inputs": [[1, 0]], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "fc_weight", "inputs": [], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "fc_bias", "inputs": [], "backward_source_id": -1},
    {"op": "FullyConnected", "param": {"no_bias": "False", "num_hidden": "3"}, "name": "fc",
     "inputs": [[2, 0], [3, 0], [4, 0]], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "softmax_label", "inputs": [], "backward_source_id": -1},
    {"op": "SoftmaxOutput", "param": {"grad_scale": "1"}, "name": "softmax", "inputs": [[5, 0], [6, 0]], "backward_source_id": -1}]
json.dump({"nodes": nodes, "arg_nodes": [0, 3, 4, 6], "heads": [[7, 0]]}, open(run + "/legacy-symbol.json", "w"))
def legacy_array(shape, values):  # 2015 layout: u32 rank, u32 extents, context, type flag, data
    return struct.pack("<I", len(shape)) + struct.pack("<%dI" % len(shape), *shape) + struct.pack("<iii", 1, 0, 0) \
        + struct.pack("<%df" % len(values), *values)
arrays = [((3, 48), [((i * 7) % 11 - 5) / 50 for i in range(144)]), ((3,), [0.1, -0.2, 0.05])]
names = [b"arg:fc_weight", b"arg:fc_bias"]
blob = struct.pack("<QQQ", 0x112, 0, len(arrays)) + b"".join(legacy_array(s, v) for s, v in arrays)
blob += struct.pack("<Q", len(names)) + b"".join(struct.pack("<Q", len(n)) + n for n in names)
open(run + "/legacy-0001.params", "wb").write(blob)
PY
"$gannet" predict --model "$run/legacy" --epoch 1 --data-shape 3,8,8 --json "$run/images/class_000/img_00001.jpg" 2>"$run/legacy.err" | python3 -c '
import json, sys
prediction = json.load(sys.stdin)["predictions"][0]
assert len(prediction["probabilities"]) == 3 and abs(sum(prediction["probabilities"]) - 1) < 1e-4, prediction
print("cli-smoke: 2015 checkpoint predicts")
'
grep -q "read as .full." "$run/legacy.err" || { echo "cli-smoke: the legacy pooling choice was not reported" >&2; exit 1; }
# Errors name what is at fault: a label beyond --num-classes, a parameter of another shape.
set +e
"$gannet" train "${common[@]}" --num-classes 2 --epochs 1 2>"$run/err" >/dev/null; status=$?
set -e
grep -q "has label 2" "$run/err" && [ "$status" -eq 1 ] || { echo "cli-smoke: a label >= --num-classes was not named ($status)" >&2; cat "$run/err" >&2; exit 1; }
# kill -9 while training: every checkpoint under its final name stays whole.
"$gannet" train "${common[@]}" --epochs 30 --model-prefix "$run/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -e "$run/killed-0002.params" ] && break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
for params in "$run"/killed-*.params; do
  epoch="${params##*-}"; epoch="${epoch%.params}"
  "$gannet" score --model "$run/killed" --epoch "$((10#$epoch))" --data "$run/set_val.rec" >/dev/null 2>&1 \
    || { echo "cli-smoke: $params does not load after kill -9" >&2; exit 1; }
done
echo "cli-smoke: checkpoints intact after kill -9"
rm -rf "$run"

# MPI: two ranks on this machine.
mpirun --allow-run-as-root --oversubscribe -np 2 "$gannet" bench allreduce --max-bytes 65536 --seconds 0.05 --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert report["ranks"] == 2 and [b["bytes"] for b in report["buckets"]] == [1024, 4096, 16384, 65536], report
assert all(b["algorithm-gbps"] > 0 for b in report["buckets"]), report
print("cli-smoke: bench allreduce over 2 ranks ok")
'

# Data-parallel training: 2 processes with 4 images each equal 1 process with 8 (a network
# without BatchNorm, whose statistics would be per process); a killed rank ends the job.
mpi="$(mktemp -d)"
python3 - "$mpi" <<'PY'
import json, sys
nodes = [
 {"op": "null", "name": "data", "inputs": []},
 {"op": "null", "name": "conv_weight", "inputs": []}, {"op": "null", "name": "conv_bias", "inputs": []},
 {"op": "Convolution", "name": "conv", "attrs": {"kernel": "(3, 3)", "num_filter": "8", "pad": "(1, 1)"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
 {"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[3, 0, 0]]},
 {"op": "Pooling", "name": "pool", "attrs": {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"}, "inputs": [[4, 0, 0]]},
 {"op": "Flatten", "name": "flat", "inputs": [[5, 0, 0]]},
 {"op": "null", "name": "fc_weight", "inputs": []}, {"op": "null", "name": "fc_bias", "inputs": []},
 {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3"}, "inputs": [[6, 0, 0], [7, 0, 0], [8, 0, 0]]},
 {"op": "null", "name": "softmax_label", "inputs": []},
 {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[9, 0, 0], [10, 0, 0]]}]
json.dump({"nodes": nodes, "arg_nodes": [0, 1, 2, 7, 8, 10], "heads": [[11, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}},
          open(sys.argv[1] + "/tiny-symbol.json", "w"))
PY
"$gannet" synth "$mpi/images" --classes 3 --images-per-class 16 --size 30 2>/dev/null
"$gannet" list "$mpi/set" "$mpi/images" --recursive 2>/dev/null
"$gannet" pack "$mpi/set" "$mpi/images" --resize 28 2>/dev/null
tiny=(--network "$mpi/tiny-symbol.json" --train "$mpi/set.rec" --num-classes 3 --data-shape 3,28,28 --batch-size 8
      --lr 0.05 --rand-crop --rand-mirror --mean-rgb 128,128,128 --scale 0.0078125 --seed 4)
"$gannet" train "${tiny[@]}" --epochs 2 --model-prefix "$mpi/one" 2>/dev/null
mpirun --allow-run-as-root --oversubscribe -np 2 "$gannet" train "${tiny[@]}" --epochs 2 --model-prefix "$mpi/two" 2>/dev/null
python3 - "$mpi/one-0002.params" "$mpi/two-0002.params" <<'PY'
import struct, sys
def load(path):  # MXNet's V2 NDArray list: float32 dense arrays
    raw = open(path, "rb").read()
    count = struct.unpack_from("<Q", raw, 16)[0]
    at, arrays = 24, []
    for _ in range(count):
        at += 8  # V2 magic, storage type
        ndim = struct.unpack_from("<I", raw, at)[0]; at += 4
        shape = struct.unpack_from("<%dq" % ndim, raw, at); at += 8 * ndim
        at += 12  # context, type flag
        size = 1
        for extent in shape: size *= extent
        arrays.append(struct.unpack_from("<%df" % size, raw, at)); at += 4 * size
    return arrays
one, two = load(sys.argv[1]), load(sys.argv[2])
worst = max(abs(a - b) for x, y in zip(one, two) for a, b in zip(x, y))
# Only the order of the float sums differs (two halves summed across processes).
assert worst < 1e-6, worst
print("cli-smoke: 2 processes x 4 = 1 process x 8 (max parameter difference %.1e)" % worst)
PY
# With BatchNorm each process normalises by the statistics of its own 12 images (as MXNet's
# devices do), so 2 x 12 only approaches 1 x 24: the parameters after 2 epochs must differ
# by less than 30% of how far the second epoch moved them (measured: 15%; gradients not
# summed over the ranks would leave them about half the step apart).
python3 - "$mpi" <<'PY'
import json, sys
nodes = [
 {"op": "null", "name": "data", "inputs": []},
 {"op": "null", "name": "conv_weight", "inputs": []}, {"op": "null", "name": "conv_bias", "inputs": []},
 {"op": "Convolution", "name": "conv", "attrs": {"kernel": "(3, 3)", "num_filter": "8", "pad": "(1, 1)"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
 {"op": "null", "name": "bn_gamma", "inputs": []}, {"op": "null", "name": "bn_beta", "inputs": []},
 {"op": "null", "name": "bn_moving_mean", "inputs": []}, {"op": "null", "name": "bn_moving_var", "inputs": []},
 {"op": "BatchNorm", "name": "bn", "attrs": {"fix_gamma": "False"}, "inputs": [[3, 0, 0], [4, 0, 0], [5, 0, 0], [6, 0, 0], [7, 0, 0]]},
 {"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[8, 0, 0]]},
 {"op": "Pooling", "name": "pool", "attrs": {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"}, "inputs": [[9, 0, 0]]},
 {"op": "Flatten", "name": "flat", "inputs": [[10, 0, 0]]},
 {"op": "null", "name": "fc_weight", "inputs": []}, {"op": "null", "name": "fc_bias", "inputs": []},
 {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3"}, "inputs": [[11, 0, 0], [12, 0, 0], [13, 0, 0]]},
 {"op": "null", "name": "softmax_label", "inputs": []},
 {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[14, 0, 0], [15, 0, 0]]}]
json.dump({"nodes": nodes, "arg_nodes": [0, 1, 2, 4, 5, 6, 7, 12, 13, 15], "heads": [[16, 0, 0]],
           "attrs": {"mxnet_version": ["int", 10901]}}, open(sys.argv[1] + "/norm-symbol.json", "w"))
PY
norm=("${tiny[@]}")
norm[1]="$mpi/norm-symbol.json"
norm+=(--lr 0.005 --batch-size 24)
"$gannet" train "${norm[@]}" --epochs 2 --model-prefix "$mpi/norm-one" 2>/dev/null
mpirun --allow-run-as-root --oversubscribe -np 2 "$gannet" train "${norm[@]}" --epochs 2 --model-prefix "$mpi/norm-two" 2>/dev/null
python3 - "$mpi/norm-one-0001.params" "$mpi/norm-one-0002.params" "$mpi/norm-two-0002.params" <<'PY'
import math, struct, sys
def load(path):
    raw = open(path, "rb").read()
    count = struct.unpack_from("<Q", raw, 16)[0]
    at, arrays = 24, []
    for _ in range(count):
        at += 8
        ndim = struct.unpack_from("<I", raw, at)[0]; at += 4
        shape = struct.unpack_from("<%dq" % ndim, raw, at); at += 8 * ndim
        at += 12
        size = math.prod(shape)
        arrays.append(struct.unpack_from("<%df" % size, raw, at)); at += 4 * size
    names = []
    at += 8
    for _ in range(count):
        length = struct.unpack_from("<Q", raw, at)[0]; at += 8
        names.append(raw[at:at + length].decode()); at += length
    return {n: a for n, a in zip(names, arrays) if n.startswith("arg:")}
first, one, two = (load(p) for p in sys.argv[1:])
distance = lambda x, y: math.sqrt(sum((a - b) ** 2 for n in x for a, b in zip(x[n], y[n])))
moved, apart = distance(one, first), distance(two, one)
assert moved > 0 and apart < 0.3 * moved, (apart, moved)
print("cli-smoke: with BatchNorm, 2 x 12 is within %.1f%% of 1 x 24 (of the last epoch's step)" % (100 * apart / moved))
PY
start=$(date +%s)
mpirun --allow-run-as-root --oversubscribe -np 2 "$gannet" train "${tiny[@]}" --epochs 100000 >/dev/null 2>&1 &
job=$!
sleep 3
pkill -9 -n -f "gannet train --network $mpi/tiny-symbol.json" || true
set +e
wait "$job"; status=$?
set -e
elapsed=$(( $(date +%s) - start ))
[ "$status" -ne 0 ] && [ "$elapsed" -lt 30 ] || { echo "cli-smoke: a killed rank left the job running ($status, ${elapsed} s)" >&2; exit 1; }
echo "cli-smoke: a killed rank ends the job (exit $status after ${elapsed} s)"
rm -rf "$mpi"
