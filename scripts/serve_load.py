"""Load check of `gannet serve` on loopback with wrk (Debian's package): POST /predict with one
JPEG for DURATION seconds at each concurrency, one JSON line per run (requests/s, p50/p99
latency, non-2xx and socket errors, the server's RSS before and after), after checking that
the server's classes equal `gannet predict`'s for every test image, and that bad requests
(text, a truncated JPEG, a wrong method) leave it serving.

Usage: python3 scripts/serve_load.py GANNET PREFIX EPOCH [--data-shape C,H,W] [--duration 30]
           [--concurrency 1,4,16] [--max-batch 8] IMAGE...
Example (the demo's model):
  make demo && python3 scripts/serve_load.py .build/release/gannet demo/model 10 \\
      demo/images/class_00*/img_00001.jpg"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

LUA = r"""
wrk.method = "POST"
local f = io.open(os.getenv("GANNET_IMAGE"), "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/jpeg"
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_ms": %.2f, "p99_ms": %.2f}\n', summary.requests,
    summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def post(url, body, method="POST", content_type="image/jpeg"):
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gannet")
    ap.add_argument("prefix")
    ap.add_argument("epoch")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--data-shape")
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--max-batch", type=int, default=8)
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = ["--data-shape", a.data_shape] if a.data_shape else []
    server = subprocess.Popen([a.gannet, "serve", "--model", a.prefix, "--epoch", a.epoch, "--port", str(port),
                               "--max-batch", str(a.max_batch), *extra], stderr=subprocess.PIPE, text=True)
    url = "http://127.0.0.1:%d" % port
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("gannet serve exited: " + server.stderr.read())
                time.sleep(0.1)
        reference = json.loads(subprocess.run(
            [a.gannet, "predict", "--model", a.prefix, "--epoch", a.epoch, "--json", *extra, *a.images],
            capture_output=True, text=True, check=True).stdout)["predictions"]
        same = 0
        largest = 0.0
        for path, expected in zip(a.images, reference):
            status, reply = post(url + "/predict", open(path, "rb").read())
            same += status == 200 and [c["class"] for c in reply["top"]] == [c["class"] for c in expected["top"]]
            largest = max(largest, max(abs(x - y) for x, y in zip(reply["probabilities"], expected["probabilities"])))
        jpeg = open(a.images[0], "rb").read()
        bad = [post(url + "/predict", b"hello")[0], post(url + "/predict", jpeg[:300])[0],
               post(url + "/predict", None, method="GET")[0], post(url + "/nothing", jpeg)[0]]
        print(json.dumps({"check": "same classes as gannet predict", "images": len(a.images), "same_top_k": same,
                          "max_abs_difference": largest, "bad_request_statuses": bad,
                          "serving_after": post(url + "/predict", jpeg)[0]}), flush=True)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        before = rss_mib(server.pid)
        for concurrency in [int(c) for c in a.concurrency.split(",")]:
            result = subprocess.run(
                ["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency), "-d", "%ds" % a.duration,
                 "--timeout", "30s", "-s", script.name, url + "/predict"],
                capture_output=True, text=True, env=dict(os.environ, GANNET_IMAGE=a.images[0]))
            line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                sys.exit("wrk: " + result.stdout + result.stderr)
            row = json.loads(line[len("RESULT "):])
            row.update(concurrency=concurrency, requests_per_s=round(row["requests"] / (row["duration_us"] / 1e6), 1),
                       rss_before_mib=round(before, 1), rss_after_mib=round(rss_mib(server.pid), 1))
            print(json.dumps(row), flush=True)
        os.remove(script.name)
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        batches = re.search(r"gannet_batch_size_sum ([\d.e+]+)\s+gannet_batch_size_count (\d+)", metrics)
        if batches:
            print(json.dumps({"mean_batch_size": round(float(batches.group(1)) / int(batches.group(2)), 2),
                              "forward_passes": int(batches.group(2))}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
