"""ONNX export against the real consumers: `onnx.checker.check_model` (full check, with shape
inference) and ONNX Runtime's CPU provider, compared with `gannet predict` on the same images.

Networks: inception-bn-small and resnet-20 trained for two epochs on `gannet synth` images
(real BatchNorm statistics, a mean and a scale in the metadata), and AlexNet, Inception-BN,
ResNet-18 and ResNet-50 freshly initialised (`export --network NAME --init`), each exported
from its checkpoint with `gannet export --model PREFIX --epoch N --onnx`. Images are PNGs at
the network's input size, so both sides see the same pixels (lossless, no resize); Python
applies the mean and scale the model's metadata gives. Passes when, on every image, the largest
absolute difference of the probabilities is at most 1e-4 and the top-1 class is the same.

Run: make check-onnx   (or: python scripts/check_onnx.py .build/release/gannet, in a Python
with onnx, onnxruntime, numpy and Pillow: ../shared/baselines' `ort` environment)."""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime
from PIL import Image

TOLERANCE = 1e-4
IMAGES = 8


def run(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(map(str, args)), result.stderr[-3000:]))
    return result.stdout


def images_at(size, sources, folder):
    """PNG copies of the synth JPEGs at size × size (PIL does the resizing; Gannet then has none to do)."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, source in enumerate(sources[:IMAGES]):
        path = os.path.join(folder, "img%d.png" % i)
        Image.open(source).convert("RGB").resize((size, size), Image.BILINEAR).save(path)
        paths.append(path)
    return paths


def check(gannet, name, prefix, epoch, images, work):
    onnx_path = os.path.join(work, name + ".onnx")
    started = time.time()
    run(gannet, "export", "--model", prefix, "--epoch", epoch, "--onnx", onnx_path)
    export_seconds = time.time() - started
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    metadata = {p.key: p.value for p in model.metadata_props}
    mean = np.array([float(v) for v in metadata["mean_rgb"].split(",")], np.float32) if "mean_rgb" in metadata \
        else np.zeros(3, np.float32)
    scale = float(metadata["scale"])
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32).transpose(2, 0, 1) for p in images])
    batch = ((pixels - mean[None, :, None, None]) * scale).astype(np.float32)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"data": batch})[0]
    report = json.loads(run(gannet, "predict", "--model", prefix, "--epoch", epoch, "--top-k", "1", "--json", *images))
    ours = np.array([p["probabilities"] for p in report["predictions"]], np.float64)
    difference = float(np.abs(ours - theirs).max())
    same_top1 = int((ours.argmax(1) == theirs.argmax(1)).sum())
    ok = difference <= TOLERANCE and same_top1 == len(images)
    row = {"network": name, "images": len(images), "max_abs_difference": difference, "same_top1": same_top1,
           "largest_probability": float(theirs.max()), "onnx_mib": round(os.path.getsize(onnx_path) / 2**20, 1),
           "nodes": len(model.graph.node), "export_seconds": round(export_seconds, 2), "ok": ok}
    print(json.dumps(row), flush=True)
    os.remove(onnx_path)
    return ok


def main():
    gannet = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/gannet")
    print("onnx %s, onnxruntime %s" % (onnx.__version__, onnxruntime.__version__), file=sys.stderr)
    work = tempfile.mkdtemp(prefix="gannet-onnx-")
    run(gannet, "synth", work + "/images", "--classes", 10, "--images-per-class", 30, "--size", 36, "--seed", 3)
    run(gannet, "list", work + "/synth", work + "/images", "--recursive")
    run(gannet, "pack", work + "/synth", work + "/images", "--resize", 32)
    sources = sorted(os.path.join(d, f) for d, _, fs in os.walk(work + "/images") for f in fs if f.endswith(".jpg"))
    sources = sources[::max(1, len(sources) // IMAGES)]
    small = images_at(28, sources, work + "/png28")
    large = images_at(224, sources, work + "/png224")
    all_ok = True
    for network in ("inception-bn-small", "resnet-20"):
        prefix = os.path.join(work, network)
        run(gannet, "train", "--network", network, "--train", work + "/synth.rec", "--num-classes", 10,
            "--data-shape", "3,28,28", "--batch-size", 32, "--epochs", 2, "--lr", 0.05, "--rand-crop",
            "--rand-mirror", "--mean-rgb", "128,120,110", "--scale", 0.0078125, "--model-prefix", prefix)
        all_ok &= check(gannet, network, prefix, 2, small, work)
    for network in ("alexnet", "inception-bn", "resnet-18", "resnet-50"):
        prefix = os.path.join(work, network)
        run(gannet, "export", "--network", network, "--init", "--seed", 1, "--output", prefix)
        all_ok &= check(gannet, network, prefix, 0, large, work)
    subprocess.run(["rm", "-rf", work])
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
