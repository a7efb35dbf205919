"""`gannet train --tensorboard DIR` against TensorBoard's own reader: trains inception-bn-small
on `gannet synth` images for 2 epochs, resumes it for a third (--load-epoch 2) into the same
folder, then loads the folder with tensorboard's `EventAccumulator` and checks that every
scalar is there with the right steps and values: per epoch, the values of `train --json`; per
log interval, one point every --log-interval updates; steps that count updates across the
resume (the resumed run's first point follows the first run's last).

Run: make check-tensorboard   (or: python scripts/check_tensorboard.py .build/release/gannet
in a Python with tensorboard: ../shared/baselines' `ort` environment has it)."""
import json
import os
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EPOCH_TAGS = {"epoch/train-accuracy": "train-accuracy", "epoch/train-top-k-accuracy": "train-top-k",
              "epoch/samples-per-second": "samples-per-second", "validation/accuracy": "validation-accuracy",
              "validation/top-k-accuracy": "validation-top-k",
              "validation/cross-entropy": "validation-cross-entropy",
              "epoch/train-cross-entropy": "train-cross-entropy"}
INTERVAL_TAGS = ["train/accuracy", "train/top-k-accuracy", "train/cross-entropy", "train/samples-per-second"]


def run(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(map(str, args)), result.stderr[-3000:]))
    return result.stdout


def main():
    gannet = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/gannet")
    work = tempfile.mkdtemp(prefix="gannet-tb-")
    run(gannet, "synth", work + "/images", "--classes", 10, "--images-per-class", 40, "--size", 36)
    run(gannet, "list", work + "/synth", work + "/images", "--recursive", "--train-ratio", 0.8)
    for part in ("train", "val"):
        run(gannet, "pack", "%s/synth_%s" % (work, part), work + "/images", "--resize", 32)
    batch, interval = 16, 5
    common = ["train", "--network", "inception-bn-small", "--train", work + "/synth_train.rec", "--val",
              work + "/synth_val.rec", "--num-classes", 10, "--data-shape", "3,28,28", "--batch-size", batch,
              "--lr", 0.05, "--model-prefix", work + "/model", "--tensorboard", work + "/runs",
              "--log-interval", interval, "--json"]
    first = json.loads(run(gannet, *common, "--epochs", 2))["epochs"]
    second = json.loads(run(gannet, *common, "--epochs", 3, "--load-epoch", 2))["epochs"]
    epochs = first + second
    files = sorted(os.listdir(work + "/runs"))
    accumulator = EventAccumulator(work + "/runs", size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    failures = []
    expected_tags = set(EPOCH_TAGS) | set(INTERVAL_TAGS) | {"learning-rate", "epoch/epoch"}
    if tags != expected_tags:
        failures.append("tags %s, expected %s" % (sorted(tags), sorted(expected_tags)))
    train_records = 320  # 80 % of 400
    per_epoch = -(-train_records // batch)
    for tag, key in EPOCH_TAGS.items():
        points = accumulator.Scalars(tag) if tag in tags else []
        steps = [p.step for p in points]
        if steps != [per_epoch * (e + 1) for e in range(3)]:
            failures.append("%s: steps %s" % (tag, steps))
        for point, epoch in zip(points, epochs):
            if abs(point.value - epoch[key]) > 1e-5 * max(1, abs(epoch[key])):
                failures.append("%s at step %d: %r, train --json says %r" % (tag, point.step, point.value, epoch[key]))
    for tag in INTERVAL_TAGS:
        steps = [p.step for p in accumulator.Scalars(tag)] if tag in tags else []
        expected = [e * per_epoch + b for e in range(3) for b in range(interval, per_epoch + 1, interval)]
        if steps != expected:
            failures.append("%s: steps %s, expected %s" % (tag, steps, expected))
    epoch_numbers = [p.value for p in accumulator.Scalars("epoch/epoch")] if "epoch/epoch" in tags else []
    result = {"event_files": len(files), "tags": len(tags),
              "points": sum(len(accumulator.Scalars(t)) for t in tags), "epochs": epoch_numbers,
              "validation_accuracy": [round(p.value, 4) for p in accumulator.Scalars("validation/accuracy")]
              if "validation/accuracy" in tags else [], "ok": not failures and len(files) == 2}
    print(json.dumps(result))
    for failure in failures:
        print("FAIL: " + failure, file=sys.stderr)
    subprocess.run(["rm", "-rf", work])
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
