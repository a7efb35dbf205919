"""The checks of scripts/cli-smoke.sh that read Gannet's outputs, and the files it writes
for them (MXNet symbols, a 2015-dialect checkpoint). One function per check, run as
    python3 scripts/smoke_checks.py CHECK [ARGUMENT ...] < report.json
Each prints one "cli-smoke: …" line and exits non-zero (an assertion) when the check fails."""
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request


def report():
    return json.load(sys.stdin)


# --- JSON reports ------------------------------------------------------------------------

def export():
    r = report()
    assert r["arguments"] == 280 and r["auxiliary"] == 138, r
    symbol = json.load(open(r["symbol"]))
    assert symbol["attrs"]["mxnet_version"] == ["int", 10901] and len(symbol["node_row_ptr"]) == len(symbol["nodes"]) + 1
    params = open(r["parameters"], "rb").read()
    assert params[:8] == bytes.fromhex("1201000000000000") and b"arg:fc1_weight" in params
    assert b"aux:bn_conv1_moving_var" in params
    print("cli-smoke: export ok")


def plan():
    p = report()
    assert len(p["arguments"]) == 280 and len(p["auxiliary"]) == 138, p.keys()
    assert p["parameters"] == 11295240 and p["output"] == [[2, 1000]], p["parameters"]
    assert p["arguments"][0] == {"name": "data", "shape": [2, 3, 224, 224]}, p["arguments"][0]
    assert all(p["plan"][k] > 0 for k in ("weights-mib", "gradients-mib", "activations-mib", "total-mib")), p["plan"]
    print("cli-smoke: plan ok")


def bench_train():
    r = report()
    assert r["network"] == "inception-bn-small" and r["batch-size"] == 4 and r["mode"] == "train", r
    assert r["samples-per-second"] > 0 and len(r["runs"]) == 2 and r["peak-rss-mib"] > 0, r
    assert r["layout"] == "blocked" and r["isa"], r
    assert r["gflops"] > 0 and set(r["plan"]) == {"weights-mib", "activations-mib", "workspace-mib"}, r
    print("cli-smoke: bench train ok (%.1f img/s)" % r["samples-per-second"])


def bench_bfloat16(status, error_file):
    """bench train --dtype bfloat16 in inference: runs where the CPU has native bfloat16,
    and elsewhere stops with exit status 2 and a message naming the ISA."""
    error = open(error_file).read()
    if int(status) == 0:
        r = report()
        assert r["dtype"] == "bfloat16" and r["isa"] in ("avx512_core_bf16", "avx512_core_amx"), r
        print("cli-smoke: bfloat16 inference ok on %s (%.1f img/s)" % (r["isa"], r["samples-per-second"]))
    else:
        assert int(status) == 2 and "without native bfloat16" in error, (status, error)
        print("cli-smoke: bfloat16 refused on a CPU without native bfloat16")


def bench_memory():
    r = report()
    assert r["largest-batch"] == 8 and r["dtype"] == "float32" and r["isa"], r
    assert [p["batch-size"] for p in r["probes"]] == [4, 8, 512], r
    assert r["probes"][2]["peak-rss-mib"] is None or r["probes"][2]["peak-rss-mib"] > 0.4 * 1024, r
    print("cli-smoke: bench memory ok")


def bench_ops():
    r = report()
    assert r["roof-gflops"] > 0 and r["isa"], r
    passes = {o["pass"] for o in r["operators"]}
    assert passes == {"forward", "backward-data", "backward-weights"}, passes
    for o in r["operators"]:
        assert o["name"] == "alexnet.conv3" and o["op"] == "Convolution" and o["batch"] == 64, o
        assert o["gflops"] > 0 and o["gbps"] is None and len(o["runs"]) == 2, o
        assert o["implementation"] and o["format"], o
    print("cli-smoke: bench ops JSON ok (%.0f GFLOPS roof)" % r["roof-gflops"])


def verify():
    r = report()
    assert r["records"] == 18 and r["decoded"] == 18 and r["failed"] == [], r
    assert r["labels"] == {"min": 0, "max": 2}, r
    print("cli-smoke: list, pack, verify ok")


def verify_truncated(path):
    r = json.load(open(path))
    assert r["decoded"] == 17 and len(r["failed"]) == 1 and "truncated" in r["failed"][0]["error"], r
    print("cli-smoke: truncated file reported")


def inspect(key):
    record = report()
    assert record["key"] == record["id"] == int(key) and record["format"] == "jpeg" and record["channels"] == 3, record
    assert min(record["width"], record["height"]) == 36 and record["offset"] == 0, record
    assert len(record["payload-sha256"]) == 64, record
    print("cli-smoke: inspect ok")


def mean(path):
    raw = open(path, "rb").read()
    assert raw[:8] == bytes.fromhex("1201000000000000") and raw.endswith(b"mean_img"), raw[:16]
    print("cli-smoke: mean ok")


def bench_io():
    r = report()
    assert r["samples-per-second"] > 0 and len(r["runs"]) == 2 and r["threads"] >= 1, r
    print("cli-smoke: bench io ok")


def train():
    r = report()
    assert [e["epoch"] for e in r["epochs"]] == [0, 1] and r["checkpoint"].endswith("full-0002.params"), r
    assert all(0 <= e["validation-accuracy"] <= 1 and e["samples-per-second"] > 0 for e in r["epochs"]), r
    print("cli-smoke: train ok")


def export_onnx():
    r = report()
    model = open(r["onnx"], "rb").read()
    # ModelProto field 1 (ir_version) = 7 first; the producer and the preprocessing metadata inside.
    assert model[:2] == bytes([0x08, 0x07]) and b"gannet" in model and b"mean_rgb" in model and b"Softmax" in model, model[:64]
    print("cli-smoke: export --onnx ok (%d bytes)" % len(model))


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tensorboard(folder):
    files = os.listdir(folder)
    assert len(files) == 1 and files[0].startswith("events.out.tfevents."), files
    data, records, at = open(os.path.join(folder, files[0]), "rb").read(), [], 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        assert struct.unpack_from("<I", data, at + 8)[0] == crc32c(data[at:at + 8]), at
        payload = data[at + 12:at + 12 + length]
        assert struct.unpack_from("<I", data, at + 12 + length)[0] == crc32c(payload), at
        records.append(payload)
        at += 16 + length
    assert b"brain.Event:2" in records[0] and any(b"validation/accuracy" in r for r in records), len(records)
    print("cli-smoke: train --tensorboard ok (%d records, CRC-32C checked)" % len(records))


def serve(gannet, prefix, epoch, image):
    """gannet serve on a free port: the same classes as predict, 4xx for bad requests, then SIGTERM."""
    server = subprocess.Popen([gannet, "serve", "--model", prefix, "--epoch", epoch, "--port", "0"],
                              stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in server.stderr:
            found = re.search(r"serving .* on http://127.0.0.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "gannet serve did not start"

        def call(path, body=None, method="POST"):
            request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method=method)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        status, body = call("/predict", open(image, "rb").read())
        expected = json.loads(subprocess.run([gannet, "predict", "--model", prefix, "--epoch", epoch, "--json", image],
                                             capture_output=True, text=True, check=True).stdout)["predictions"][0]
        reply = json.loads(body)
        assert status == 200 and [c["class"] for c in reply["top"]] == [c["class"] for c in expected["top"]], reply
        assert call("/predict", b"not an image")[0] == 415 and call("/predict", None, "GET")[0] == 405
        assert call("/health", None, "GET")[0] == 200
        assert b'gannet_requests_total{path="/predict",status="200"} 1' in call("/metrics", None, "GET")[1]
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0, server.returncode
    finally:
        if server.poll() is None:
            server.kill()
    print("cli-smoke: serve ok (same classes as predict, 4xx for bad requests, stops on SIGTERM)")


def score():
    r = report()
    assert r["images"] == 9 and r["k"] == 5 and 0 <= r["top-1"] <= 1 and r["top-k"] == 1, r
    print("cli-smoke: score ok")


def predict():
    prediction = report()["predictions"][0]
    assert len(prediction["probabilities"]) == 3 and abs(sum(prediction["probabilities"]) - 1) < 1e-4, prediction
    assert len(prediction["top"]) == 2 and prediction["top"][0]["name"].startswith("class_"), prediction
    print("cli-smoke: predict ok")


def predict_legacy():
    prediction = report()["predictions"][0]
    assert len(prediction["probabilities"]) == 3 and abs(sum(prediction["probabilities"]) - 1) < 1e-4, prediction
    print("cli-smoke: 2015 checkpoint predicts")


def bench_allreduce():
    r = report()
    assert r["ranks"] == 2 and [b["bytes"] for b in r["buckets"]] == [1024, 4096, 16384, 65536], r
    assert all(b["algorithm-gbps"] > 0 for b in r["buckets"]), r
    print("cli-smoke: bench allreduce over 2 ranks ok")


# --- Files the smoke test feeds to Gannet -------------------------------------------------

def legacy_checkpoint(folder):
    """A 2015-dialect checkpoint (StaticGraph JSON, legacy .params): max pooling without
    pooling_convention into a FullyConnected on 48 = 3·4·4 inputs, which fits only 'full'
    rounding of an 8×8 input."""
    def node(op, name, inputs, **param):
        return {"op": op, "param": param, "name": name, "inputs": inputs, "backward_source_id": -1}
    nodes = [
        node("null", "data", []),
        node("Pooling", "pool", [[0, 0]], kernel="(3,3)", pool_type="max", stride="(2,2)", pad="(0,0)"),
        node("Flatten", "flatten", [[1, 0]]),
        node("null", "fc_weight", []), node("null", "fc_bias", []),
        node("FullyConnected", "fc", [[2, 0], [3, 0], [4, 0]], no_bias="False", num_hidden="3"),
        node("null", "softmax_label", []),
        node("SoftmaxOutput", "softmax", [[5, 0], [6, 0]], grad_scale="1"),
    ]
    json.dump({"nodes": nodes, "arg_nodes": [0, 3, 4, 6], "heads": [[7, 0]]}, open(folder + "/legacy-symbol.json", "w"))

    def legacy_array(shape, values):  # 2015 layout: u32 rank, u32 extents, context, type flag, data
        return (struct.pack("<I", len(shape)) + struct.pack("<%dI" % len(shape), *shape) + struct.pack("<iii", 1, 0, 0)
                + struct.pack("<%df" % len(values), *values))
    arrays = [((3, 48), [((i * 7) % 11 - 5) / 50 for i in range(144)]), ((3,), [0.1, -0.2, 0.05])]
    names = [b"arg:fc_weight", b"arg:fc_bias"]
    blob = struct.pack("<QQQ", 0x112, 0, len(arrays)) + b"".join(legacy_array(s, v) for s, v in arrays)
    blob += struct.pack("<Q", len(names)) + b"".join(struct.pack("<Q", len(n)) + n for n in names)
    open(folder + "/legacy-0001.params", "wb").write(blob)


def _symbol(nodes, path):
    arguments = [index for index, n in enumerate(nodes) if n["op"] == "null"]
    json.dump({"nodes": nodes, "arg_nodes": arguments, "heads": [[len(nodes) - 1, 0, 0]],
               "attrs": {"mxnet_version": ["int", 10901]}}, open(path, "w"))


def _layers(with_batch_norm):
    """conv 3×3 (8) [→ BatchNorm] → ReLU → max pool 2 → flatten → fc 3 → softmax, MXNet 1.x JSON."""
    nodes = [{"op": "null", "name": "data", "inputs": []},
             {"op": "null", "name": "conv_weight", "inputs": []}, {"op": "null", "name": "conv_bias", "inputs": []},
             {"op": "Convolution", "name": "conv", "attrs": {"kernel": "(3, 3)", "num_filter": "8", "pad": "(1, 1)"},
              "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}]
    if with_batch_norm:
        at = len(nodes)
        nodes += [{"op": "null", "name": n, "inputs": []} for n in ("bn_gamma", "bn_beta", "bn_moving_mean", "bn_moving_var")]
        nodes.append({"op": "BatchNorm", "name": "bn", "attrs": {"fix_gamma": "False"},
                      "inputs": [[at - 1, 0, 0]] + [[at + i, 0, 0] for i in range(4)]})
    last = len(nodes) - 1
    nodes += [{"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[last, 0, 0]]},
              {"op": "Pooling", "name": "pool", "attrs": {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"},
               "inputs": [[last + 1, 0, 0]]},
              {"op": "Flatten", "name": "flat", "inputs": [[last + 2, 0, 0]]},
              {"op": "null", "name": "fc_weight", "inputs": []}, {"op": "null", "name": "fc_bias", "inputs": []},
              {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3"},
               "inputs": [[last + 3, 0, 0], [last + 4, 0, 0], [last + 5, 0, 0]]},
              {"op": "null", "name": "softmax_label", "inputs": []},
              {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[last + 6, 0, 0], [last + 7, 0, 0]]}]
    return nodes


def tiny_symbols(folder):
    """tiny-symbol.json (no BatchNorm) and norm-symbol.json (with one)."""
    _symbol(_layers(False), folder + "/tiny-symbol.json")
    _symbol(_layers(True), folder + "/norm-symbol.json")


# --- Data-parallel equivalence -------------------------------------------------------------

def load_params(path):
    """MXNet's V2 NDArray list of float32 dense arrays: {name: values} of the `arg:` entries."""
    raw = open(path, "rb").read()
    count = struct.unpack_from("<Q", raw, 16)[0]
    at, arrays = 24, []
    for _ in range(count):
        at += 8  # V2 magic, storage type
        ndim = struct.unpack_from("<I", raw, at)[0]
        at += 4
        shape = struct.unpack_from("<%dq" % ndim, raw, at)
        at += 8 * ndim + 12  # context, type flag
        size = math.prod(shape)
        arrays.append(struct.unpack_from("<%df" % size, raw, at))
        at += 4 * size
    names = []
    at += 8
    for _ in range(count):
        length = struct.unpack_from("<Q", raw, at)[0]
        at += 8
        names.append(raw[at:at + length].decode())
        at += length
    return {n: a for n, a in zip(names, arrays) if n.startswith("arg:")}


def same_parameters(one, two):
    """Only the order of the float sums differs (two halves summed across processes)."""
    a, b = load_params(one), load_params(two)
    worst = max(abs(x - y) for n in a for x, y in zip(a[n], b[n]))
    assert worst < 1e-6, worst
    print("cli-smoke: 2 processes x 4 = 1 process x 8 (max parameter difference %.1e)" % worst)


def close_parameters(first, one, two):
    """With BatchNorm each process normalises by its own images' statistics, so 2 × 12 only
    approaches 1 × 24: after 2 epochs the parameters must differ by less than 30% of how far
    the second epoch moved them (gradients not summed would leave them about half a step apart)."""
    start, a, b = load_params(first), load_params(one), load_params(two)
    distance = lambda x, y: math.sqrt(sum((p - q) ** 2 for n in x for p, q in zip(x[n], y[n])))
    moved, apart = distance(a, start), distance(b, a)
    assert moved > 0 and apart < 0.3 * moved, (apart, moved)
    print("cli-smoke: with BatchNorm, 2 x 12 is within %.1f%% of 1 x 24 (of the last epoch's step)" % (100 * apart / moved))


if __name__ == "__main__":
    check = sys.argv[1].replace("-", "_") if len(sys.argv) > 1 else ""
    if check.startswith("_") or not callable(globals().get(check)):
        sys.exit("usage: smoke_checks.py CHECK [ARGUMENT ...]; see the functions of this file")
    globals()[check](*sys.argv[2:])
