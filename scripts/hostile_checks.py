"""Hostile and clumsy input through the built binary: each case crafts a file or a flag that
once crashed Gannet, exhausted its memory or passed silently, runs the command, and checks
that it now ends the way docs/reliability.md promises: the expected exit status (never a
signal), a message naming what is at fault, and a bounded peak RSS.
    python3 scripts/hostile_checks.py [.build/release/gannet]"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

GANNET = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/gannet")
RECORD_MAGIC = 0xCED7230A
failures = []


def run(name, args, status=1, message=None, max_rss_mib=600):
    """Runs gannet with `args`; checks the exit status, that standard error contains
    `message` and that the peak RSS stayed under `max_rss_mib`. Returns standard output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([GANNET] + args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, wait_status, usage = os.wait4(process.pid, 0)
        process.returncode = code = os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        output, error = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    rss_mib = usage.ru_maxrss / 1024
    problems = []
    if code < 0:
        problems.append(f"killed by signal {-code}")
    elif code != status:
        problems.append(f"exit {code}, expected {status}")
    if message and message not in error + output:
        problems.append(f"no '{message}' in: {(error + output).strip()[-300:]}")
    if rss_mib > max_rss_mib:
        problems.append(f"peak RSS {rss_mib:.0f} MiB > {max_rss_mib}")
    if problems:
        failures.append(name)
        print(f"hostile: FAIL {name}: {'; '.join(problems)}", file=sys.stderr)
    else:
        print(f"hostile: ok   {name} ({rss_mib:.0f} MiB)")
    return output


def record(payload, cflag=0):
    """One RecordIO record: magic, flag and length, payload, padding to 4 bytes."""
    head = struct.pack("<II", RECORD_MAGIC, (cflag << 29) | len(payload))
    return head + payload + b"\0" * ((4 - len(payload) % 4) % 4)


def image_record(image, label=0.0, key=0):
    """An ImageRecordIO payload: IRHeader (flag, label, id, id2) then the image."""
    return record(struct.pack("<IfQQ", 0, label, key, 0) + image)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, rows=None):
    """An RGB PNG; without `rows`, the header alone claims the size (68 bytes)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body = rows if rows is not None else zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def jpeg_claiming(jpeg, width, height):
    """`jpeg` with its frame header (SOF0/SOF2) patched to claim `width × height`."""
    data = bytearray(jpeg)
    position = 2
    while position + 4 < len(data):
        marker, length = data[position + 1], struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[position + 5:position + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        position += 2 + length
    raise ValueError("no frame header")


def main():
    work = tempfile.mkdtemp(prefix="gannet-hostile-")
    try:
        os.chdir(work)
        subprocess.run([GANNET, "synth", "images", "--classes", "2", "--images-per-class", "3", "--size", "40"],
                       check=True, capture_output=True)
        jpeg = open("images/class_000/img_00000.jpg", "rb").read()
        os.makedirs("model")
        subprocess.run([GANNET, "export", "--network", "inception-bn-small", "--init", "--seed", "1",
                        "--output", "model/m"], check=True, capture_output=True)
        crashes(jpeg)
        memory(jpeg)
        sizes()
        damage()
        damaged_images(jpeg)
        interrupts()
        full_disk()
        flags()
        exports_and_server(jpeg)
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"hostile: {len(failures)} case(s) failed: {', '.join(failures)}", file=sys.stderr)
        sys.exit(1)


def crashes(jpeg):
    """Item 1–3: inputs that once killed the process."""
    with open("nan.lst", "w") as f:
        f.write("0\tnan\tclass_000/img_00000.jpg\n")
    run("pack refuses a NaN label", ["pack", "nan", "images"], message="nan.lst:1: the label 'nan' is not a finite number")
    with open("nan.rec", "wb") as f:
        f.write(image_record(jpeg, label=float("nan")))
    out = run("verify --json with a NaN label", ["verify", "nan.rec", "--json"], status=0)
    assert json.loads(out)["labels"]["min"] is None, out
    out = run("inspect --json with a NaN label", ["inspect", "nan.rec", "--json"], status=0)
    assert json.loads(out)["label"] == [None], out
    run("predict --mean-rgb inf", ["predict", "--model", "model/m", "--epoch", "0", "--data-shape", "3,28,28", "--mean-rgb", "inf,0,0",
                                   "images/class_000/img_00000.jpg"], status=2, message="--mean-rgb")
    run("train --resize 0", ["train", "--network", "inception-bn-small", "--train", "nan.rec", "--num-classes", "2",
                             "--resize", "0"], status=2, message="--resize")


def memory(jpeg):
    """Items 2, 4, 5: sizes claimed by tiny inputs are checked before anything is allocated."""
    with open("huge.png", "wb") as f:
        f.write(png(100000, 100000))
    run("predict: a PNG header claiming 100000x100000", ["predict", "--model", "model/m", "--epoch", "0", "--data-shape", "3,28,28", "huge.png"],
        message="over the limit of 268435456 pixels")
    with open("bomb.jpg", "wb") as f:
        f.write(jpeg_claiming(jpeg, 65000, 65000))
    run("predict: a JPEG header claiming 65000x65000", ["predict", "--model", "model/m", "--epoch", "0", "--data-shape", "3,28,28", "bomb.jpg"],
        message="65000x65000, over the limit")
    with open("bombs.lst", "w") as f:
        f.write("0\t0\tbomb.jpg\n1\t0\thuge.png\n")
    run("pack: decompression bombs", ["pack", "bombs", "."], message="nothing packed")
    assert not [name for name in os.listdir(".") if name.startswith("bombs.") and not name.endswith(".lst")]
    with open("bomb.rec", "wb") as f:
        f.write(image_record(jpeg_claiming(jpeg, 65000, 65000)) + image_record(png(100000, 100000), key=1))
    run("verify: decompression bombs in records", ["verify", "bomb.rec"], message="over the limit")
    run("train: decompression bombs in records", ["train", "--network", "inception-bn-small", "--train", "bomb.rec",
                                                  "--num-classes", "2", "--data-shape", "3,28,28", "--batch-size", "2",
                                                  "--epochs", "1"], message="over the limit")
    with open("thin.png", "wb") as f:
        f.write(png(60000, 1, rows=zlib.compress(b"\0" + b"\x80" * 180000)))
    run("predict --resize 224 of a 60000x1 PNG", ["predict", "--model", "model/m", "--epoch", "0", "--data-shape",
                                                  "3,28,28", "--resize", "224", "thin.png"], message="the resize to the crop size makes the image")
    with open("claim.rec", "wb") as f:
        f.write(struct.pack("<II", RECORD_MAGIC, (1 << 29) - 1) + b"\0" * 9500)
    run("verify: a record header claiming 512 MiB", ["verify", "claim.rec", "--threads", "8"],
        message="536870911 payload bytes announced", max_rss_mib=300)
    run("mean: a record header claiming 512 MiB", ["mean", "claim.rec", "--threads", "8", "--data-shape", "3,28,28",
                                                   "--output", "mean.bin"], max_rss_mib=300)


def symbol(nodes, heads):
    """An MXNet 1.x symbol file of `nodes` (name, op, attrs, inputs)."""
    return json.dumps({"nodes": [{"op": op, "name": name, "attrs": attrs, "inputs": inputs}
                                 for name, op, attrs, inputs in nodes],
                       "arg_nodes": [i for i, n in enumerate(nodes) if n[1] == "null"],
                       "heads": heads, "attrs": {"mxnet_version": ["int", 10901]}})


def params_file(arrays):
    """An NDArray list file (MXNet's V2 arrays): `arrays` of (name, dims, float data bytes)."""
    blob = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for _, dims, data in arrays:
        blob += struct.pack("<IiI", 0xF993FAC9, 0, len(dims)) + struct.pack(f"<{len(dims)}q", *dims)
        blob += struct.pack("<iii", 1, 0, 0) + data
    blob += struct.pack("<Q", len(arrays))
    for name, _, _ in arrays:
        blob += struct.pack("<Q", len(name)) + name.encode()
    return blob


def sizes():
    """Items 2, 3, 6: sizes from files and flags are checked (overflow, plausibility,
    available memory) before anything is allocated."""
    data = ("data", "null", {}, [])
    for count in (2**31, 2**40):
        with open(f"conv{count}.json", "w") as f:
            f.write(symbol([data, ("conv", "Convolution", {"kernel": "(3, 3)", "num_filter": str(count)}, [[0, 0, 0]])],
                           [[1, 0, 0]]))
        run(f"plan: num_filter {count}", ["plan", "--network", f"conv{count}.json", "--data-shape", "3,28,28"],
            message="conv")
        with open(f"fc{count}.json", "w") as f:
            f.write(symbol([data, ("fc", "FullyConnected", {"num_hidden": str(count)}, [[0, 0, 0]])], [[1, 0, 0]]))
        run(f"plan: num_hidden {count}", ["plan", "--network", f"fc{count}.json", "--data-shape", "3,28,28"],
            message="fc")
    with open("dangling.json", "w") as f:
        f.write(symbol([data, ("relu", "Activation", {"act_type": "relu"}, [[0, 5, 0]])], [[1, 0, 0]]))
    run("plan: an input naming output 5 of a one-output node", ["plan", "--network", "dangling.json"],
        message="relu")
    run("plan: Inception-BN at batch 1024 is arithmetic", ["plan", "--network", "inception-bn", "--batch-size", "1024"],
        status=0, max_rss_mib=400)
    run("plan: Inception-BN at batch 128", ["plan", "--network", "inception-bn", "--batch-size", "128"], status=0,
        max_rss_mib=400)
    run("train --batch-size 99999999", ["train", "--network", "inception-bn-small", "--train", "nan.rec",
                                        "--num-classes", "2", "--batch-size", "99999999"], message="is available")
    run("score --batch-size 100000", ["score", "--model", "model/m", "--epoch", "0", "--data", "nan.rec",
                                      "--data-shape", "3,28,28", "--batch-size", "100000"], message="is available")
    run("mean --data-shape 3,20000,20000", ["mean", "nan.rec", "--data-shape", "3,20000,20000", "--output", "m.bin"],
        status=2, message="--data-shape")
    with open("one.lst", "w") as f:
        f.write("0\t0\tclass_000/img_00000.jpg\n")
    run("pack --resize 100000", ["pack", "one", "images", "--resize", "100000"], status=2, message="--resize")
    for name, dims in (("overflow", [2**40, 2**40]), ("terabytes", [2**20, 2**20]), ("negative", [-1, 4])):
        shutil.copy("model/m-symbol.json", f"{name}-symbol.json")
        with open(f"{name}-0000.params", "wb") as f:
            f.write(params_file([("arg:fc1_weight", dims, b"\0" * 64)]))
        run(f".params with extents {dims}", ["predict", "--model", name, "--epoch", "0", "--data-shape", "3,28,28",
                                             "images/class_000/img_00000.jpg"], message=f"{name}-0000.params")
    for field, value in (("updateCount", -1), ("dataShape", [-3, 28, 28]), ("batchSize", 0)):
        state = {"epoch": 1, "updateCount": 3, "learningRate": 0.1, "seed": 1, "batchSize": 2, "classCount": 10,
                 "preprocessing": {"dataShape": [3, 28, 28], "scale": 1}}
        (state["preprocessing"] if field == "dataShape" else state)[field] = value
        text = json.dumps(state).encode()
        shutil.copy("model/m-symbol.json", f"state-{field}-symbol.json")
        shutil.copy("model/m-0000.params", f"state-{field}-0000.params")
        with open(f"state-{field}-0000.state", "wb") as f:
            f.write(b"GANNETST" + struct.pack("<Q", len(text)) + text + params_file([]))
        run(f".state with {field} {value}", ["predict", "--model", f"state-{field}", "--epoch", "0",
                                            "images/class_000/img_00000.jpg"], message=f"state-{field}-0000.state")

def read_params(path):
    """(name, dims, data bytes) of each array of an NDArray file Gannet wrote (V2, float32)."""
    blob = open(path, "rb").read()
    count = struct.unpack_from("<Q", blob, 16)[0]
    position, arrays = 24, []
    for _ in range(count):
        _, _, rank = struct.unpack_from("<IiI", blob, position)
        dims = list(struct.unpack_from(f"<{rank}q", blob, position + 12))
        position += 12 + 8 * rank + 12
        size = 4 * math.prod(dims)
        arrays.append([dims, blob[position:position + size]])
        position += size
    position += 8
    for array in arrays:
        length = struct.unpack_from("<Q", blob, position)[0]
        array.insert(0, blob[position + 8:position + 8 + length].decode())
        position += 8 + length
    return arrays


def damage():
    """Items 7, 8, 10, 11: damage in the middle of a file, non-finite parameters, nothing to
    read, an index that belongs to another file."""
    subprocess.run([GANNET, "synth", "many", "--classes", "2", "--images-per-class", "30", "--size", "32"],
                   check=True, capture_output=True)
    subprocess.run([GANNET, "list", "many", "many", "--recursive", "--no-shuffle"], check=True, capture_output=True)
    subprocess.run([GANNET, "pack", "many", "many", "--resize", "28"], check=True, capture_output=True)
    blob = bytearray(open("many.rec", "rb").read())
    offsets = [int(line.split("\t")[1]) for line in open("many.idx")]
    blob[offsets[4]] ^= 0xFF
    with open("damaged.rec", "wb") as f:
        f.write(blob)
    common = ["--network", "inception-bn-small", "--train", "damaged.rec", "--num-classes", "2", "--data-shape",
              "3,28,28", "--batch-size", "4", "--epochs", "1"]
    run("train: a flipped magic byte in record 4 of 60 (no .idx)", ["train"] + common,
        message=f"damaged.rec: at byte {offsets[4]}: bad magic")
    run("train --bad-records skip: 59 intact records after the damage", ["train"] + common + ["--bad-records", "skip"],
        status=0, message="1 damaged place(s) skipped, 59 intact records read")
    out = run("verify: the damage is reported, every other record decoded", ["verify", "damaged.rec", "--json"])
    report = json.loads(out)
    assert report["records"] == 59 and report["decoded"] == 59 and len(report["failed"]) == 1, report
    with open("unterminated.rec", "wb") as f:
        f.write(bytes(blob[:offsets[2]]) + record(b"x" * 40, cflag=1))
    run("verify: an unterminated multi-part record", ["verify", "unterminated.rec"], message="unterminated multi-part")
    arrays = read_params("model/m-0000.params")
    shutil.copy("model/m-symbol.json", "nan-symbol.json")
    with open("nan-0000.params", "wb") as f:
        f.write(params_file([(name, dims, struct.pack("<f", float("nan")) * (len(data) // 4))
                             for name, dims, data in arrays]))
    run("score: NaN parameters", ["score", "--model", "nan", "--epoch", "0", "--data", "many.rec", "--data-shape",
                                  "3,28,28"], message="not finite")
    run("predict: NaN parameters", ["predict", "--model", "nan", "--epoch", "0", "--data-shape", "3,28,28",
                                    "many/class_000/img_00000.jpg"], message="NaN or infinity in")
    open("empty.rec", "wb").close()
    os.makedirs("folder.rec", exist_ok=True)
    for data in ("empty.rec", "folder.rec"):
        run(f"score: {data}", ["score", "--model", "model/m", "--epoch", "0", "--data", data, "--data-shape",
                               "3,28,28"], message=data)
        run(f"train: {data}", ["train", "--network", "inception-bn-small", "--train", data, "--num-classes", "2",
                               "--data-shape", "3,28,28"], message=data)
        run(f"bench io: {data}", ["bench", "io", "--data", data, "--data-shape", "3,28,28"], message=data)
    shutil.copy("many.rec", "dup.rec")
    with open("dup.idx", "w") as f:
        f.write("".join(f"{key}\t{offsets[0]}\n" for key in range(5000)))
    run("score: 5000 index lines naming one offset", ["score", "--model", "model/m", "--epoch", "0", "--data",
                                                      "dup.rec", "--data-shape", "3,28,28"],
        status=0, message="4999 duplicate offsets ignored")
    shutil.copy("damaged.rec", "swapped.rec")
    with open("swapped.idx", "w") as f:
        f.write("".join(f"{key}\t{offset + 4}\n" for key, offset in enumerate(offsets)))
    run("score: an .idx of another .rec", ["score", "--model", "model/m", "--epoch", "0", "--data", "swapped.rec",
                                           "--data-shape", "3,28,28"], message="the index does not match")


def damaged_images(jpeg):
    """Item 9: a truncated JPEG that libjpeg still decodes (with a warning) is damage."""
    os.makedirs("cut/a", exist_ok=True)
    shutil.copy("images/class_000/img_00000.jpg", "cut/a/whole.jpg")
    with open("cut/a/cut.jpg", "wb") as f:
        f.write(jpeg[:len(jpeg) * 6 // 10])
    with open("cut.lst", "w") as f:
        f.write("0\t0\ta/whole.jpg\n1\t0\ta/cut.jpg\n")
    run("pack skips a truncated JPEG", ["pack", "cut", "cut"], status=0, message="skipped cut/a/cut.jpg: libjpeg")
    run("pack --keep-damaged keeps it", ["pack", "cut", "cut", "--keep-damaged"], status=0)
    run("pack --pass-through stores the bytes unchecked", ["pack", "cut", "cut", "--pass-through"], status=0)
    run("train: a truncated JPEG in the records", ["train", "--network", "inception-bn-small", "--train", "cut.rec",
                                                   "--num-classes", "2", "--data-shape", "3,28,28", "--batch-size",
                                                   "2", "--epochs", "1"], message="truncated or corrupt data")
    run("predict warns about a truncated JPEG", ["predict", "--model", "model/m", "--epoch", "0", "--data-shape",
                                                 "3,28,28", "cut/a/cut.jpg"], status=0,
        message="cut/a/cut.jpg: libjpeg reports truncated or corrupt data")


def interrupts():
    """Item 11: an interrupted or failing writer leaves no temporary file and no half file."""
    import signal
    import time
    subprocess.run([GANNET, "synth", "big", "--classes", "2", "--images-per-class", "300", "--size", "256"],
                   check=True, capture_output=True)
    subprocess.run([GANNET, "list", "big", "big", "--recursive"], check=True, capture_output=True)
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        process = subprocess.Popen([GANNET, "pack", "big", "big", "--threads", "1"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline and not any(".tmp-" in name for name in os.listdir(".")):
            time.sleep(0.01)
        process.send_signal(signal_number)
        process.wait()
        left = [name for name in os.listdir(".") if ".tmp-" in name or name.startswith("big.rec")]
        name = f"pack interrupted by {signal.Signals(signal_number).name}"
        if process.returncode != -signal_number or left:
            failures.append(name)
            print(f"hostile: FAIL {name}: exit {process.returncode}, left {left}", file=sys.stderr)
        else:
            print(f"hostile: ok   {name}")
    run("inspect --save-image into a missing folder", ["inspect", "many.rec", "--record", "0", "--save-image",
                                                        "missing/x.png"], message="missing/x.png")
    if not os.path.exists("missing/x.png"):
        print("hostile: ok   no file under the final name")
    else:
        failures.append("inspect --save-image left a file")


def full_disk():
    """Item 11: on a full disk every writer fails with a message and leaves nothing behind.
    Needs a small tmpfs (root with mount permission); skipped elsewhere."""
    disk = os.path.abspath("full")
    os.makedirs(disk)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", disk], capture_output=True).returncode:
        print("hostile: skip full-disk cases (cannot mount a tmpfs here)")
        return
    try:
        shutil.copy("big.lst", f"{disk}/big.lst")
        run("pack on a full disk", ["pack", f"{disk}/big", "big"], message="No space left on device")
        with open(f"{disk}/filler", "wb") as f:
            f.write(b"\0" * (64 * 1024 - os.path.getsize(f"{disk}/big.lst") - 4096))
        run("list on a full disk", ["list", f"{disk}/set", "big", "--recursive"], message="No space left on device")
        run("inspect --save-image on a full disk", ["inspect", "many.rec", "--record", "0", "--save-image",
                                                    f"{disk}/x.png"], message="No space left on device")
        left = sorted(set(os.listdir(disk)) - {"big.lst", "filler"})
        if left:
            failures.append("full disk leftovers")
            print(f"hostile: FAIL full disk left {left}", file=sys.stderr)
        else:
            print("hostile: ok   nothing left on the full disk")
    finally:
        subprocess.run(["umount", disk], capture_output=True)


def flags():
    """Item 12: every flag is validated before work starts (exit 2, the flag named)."""
    train = ["train", "--network", "inception-bn-small", "--train", "many.rec", "--num-classes", "2",
             "--data-shape", "3,28,28", "--epochs", "1"]
    for flag, value in (("--batch-size", "-1"), ("--scale", "nan"), ("--mean-rgb", "nan,0,0"),
                        ("--clip-gradient", "nan"), ("--lr-factor", "nan"), ("--momentum", "nan"), ("--wd", "inf"),
                        ("--lr", "-0.1"), ("--model-prefix", "missing/run"), ("--model-prefix", ""),
                        ("--resize", "0"), ("--epochs", "-2")):
        run(f"train {flag} {value!r}", train + [flag, value], status=2, message=flag)
    run("train --model-prefix without a folder", train + ["--model-prefix", "bare"], status=0)
    assert os.path.exists("bare-0001.params")
    run("score --batch-size 0", ["score", "--model", "model/m", "--epoch", "0", "--data", "many.rec",
                                 "--batch-size", "0"], status=2, message="--batch-size")
    run("bench io --rate nan", ["bench", "io", "--data", "many.rec", "--rate", "nan"], status=2, message="--rate")


def exports_and_server(jpeg):
    """ONNX export, TensorBoard and the server: bad flags exit 2 naming the flag, missing or
    unwritable files exit 1 naming them."""
    run("export --onnx into a missing folder", ["export", "--network", "resnet-20", "--onnx", "missing/x.onnx"],
        status=2, message="--onnx")
    run("export --model without --epoch", ["export", "--model", "model/m", "--onnx", "x.onnx"], status=2,
        message="--epoch")
    run("export --model of a missing checkpoint", ["export", "--model", "nothing", "--epoch", "3", "--onnx", "x.onnx"],
        message="nothing-symbol.json")
    assert not os.path.exists("x.onnx")
    write_sum_pooling()
    run("export --onnx of a sum pooling", ["export", "--model", "sumpool", "--epoch", "0", "--data-shape", "3,8,8",
                                           "--onnx", "x.onnx"], message="sum_pool")
    assert not os.path.exists("x.onnx")
    run("train --tensorboard under /proc", ["train", "--network", "inception-bn-small", "--train", "many.rec",
                                            "--num-classes", "2", "--data-shape", "3,28,28", "--epochs", "1",
                                            "--tensorboard", "/proc/gannet-events"], message="/proc/gannet-events")
    run("serve of a missing checkpoint", ["serve", "--model", "nothing", "--epoch", "1", "--port", "0"],
        message="nothing-symbol.json")
    for flag, value in (("--port", "70000"), ("--max-batch", "0"), ("--batch-window-ms", "nan"),
                        ("--max-body-mib", "0")):
        run(f"serve {flag} {value!r}", ["serve", "--model", "model/m", "--epoch", "0", flag, value], status=2,
            message=flag)


def write_sum_pooling():
    """A checkpoint whose network has a sum pooling, which ONNX cannot express."""
    nodes = [("data", "null", {}, []), ("sum_pool", "Pooling", {"pool_type": "sum", "kernel": "(2, 2)"}, [[0, 0, 0]]),
             ("flat", "Flatten", {}, [[1, 0, 0]]), ("softmax_label", "null", {}, []),
             ("softmax", "SoftmaxOutput", {}, [[2, 0, 0], [3, 0, 0]])]
    with open("sumpool-symbol.json", "w") as f:
        f.write(symbol(nodes, [[4, 0, 0]]))
    with open("sumpool-0000.params", "wb") as f:
        f.write(params_file([]))


if __name__ == "__main__":
    main()
