#!/usr/bin/env bash
# Convergence beside MXNet 1.9.1: the same .rec, the same settings (batch 128, lr 0.05,
# momentum 0.9, wd 1e-4, Xavier(gaussian, in, 2), random crop + mirror, ImageNet RGB means),
# seeds 1..SEEDS, MXNet through scripts/mx_fit_resnet.py (mx_fit.py with MXNet's small
# ResNets added), Gannet through `gannet train --json`. Prints one JSON line per run
# ({"framework", "seed", "val": [top-1 per epoch], "img/s": [per epoch]}) and the means.
# Usage: scripts/convergence.sh [NETWORK] [EPOCHS] [SEEDS]   (default resnet-20 8 3)
#   LR_STEP_EPOCHS=10,… multiplies the learning rate by 0.1 at those epochs in both.
#   GANNET=path/to/gannet, DATA=folder with photos32_{train,val}.rec (default: the baselines')
set -euo pipefail
network=${1:-resnet-20}
epochs=${2:-8}
seeds=${3:-3}
home="${BASELINES_HOME:-$HOME/.cache/gannet-baselines}"
data=${DATA:-$home/data/rec}
gannet=${GANNET:-.build/release/gannet}
steps=()
[ -n "${LR_STEP_EPOCHS:-}" ] && steps=(--lr-step-epochs "$LR_STEP_EPOCHS" --lr-factor 0.1)
here="$(cd "$(dirname "$0")" && pwd)"
[ -x "$home/mx/bin/python" ] || { echo "convergence: no MXNet environment; run: bash ../shared/baselines/setup.sh mx" >&2; exit 1; }
[ -f "$data/photos32_train.rec" ] || { echo "convergence: no $data/photos32_train.rec; run: bash ../shared/baselines/make_photos.sh" >&2; exit 1; }
[ -x "$gannet" ] || { echo "convergence: no $gannet; run: make release" >&2; exit 1; }
classes=$(awk -F'\t' 'BEGIN{m=0} {if ($2+0 > m) m=$2+0} END{print m+1}' "$data/photos32_train.lst")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for seed in $(seq 1 "$seeds"); do
  "$home/mx/bin/python" "$here/mx_fit_resnet.py" --network "$network" --train "$data/photos32_train.rec" \
    --val "$data/photos32_val.rec" --epochs "$epochs" --seed "$seed" "${steps[@]}" 2>/dev/null |
    python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
print(json.dumps({"framework": "mxnet", "seed": int(sys.argv[1]), "val": [round(r["val_accuracy"], 4) for r in rows],
                  "img/s": [round(r["samples_per_s"], 1) for r in rows]}))' "$seed" | tee -a "$out/runs"
  "$gannet" train --network "$network" --train "$data/photos32_train.rec" --val "$data/photos32_val.rec" \
    --num-classes "$classes" --data-shape 3,28,28 --batch-size 128 --epochs "$epochs" --lr 0.05 \
    --momentum 0.9 --wd 1e-4 --initializer xavier-gaussian-in --rand-crop --rand-mirror \
    --mean-rgb 123.68,116.779,103.939 --seed "$seed" "${steps[@]}" --json 2>/dev/null |
    python3 -c '
import json, sys
rows = json.load(sys.stdin)["epochs"]
print(json.dumps({"framework": "gannet", "seed": int(sys.argv[1]), "val": [round(r["validation-accuracy"], 4) for r in rows],
                  "img/s": [round(r["samples-per-second"], 1) for r in rows]}))' "$seed" | tee -a "$out/runs"
done
python3 - "$out/runs" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
for fw in ("mxnet", "gannet"):
    mine = [r for r in runs if r["framework"] == fw]
    last = statistics.mean(r["val"][-1] for r in mine)
    last3 = statistics.mean(statistics.mean(r["val"][-3:]) for r in mine)
    speed = statistics.median(s for r in mine for s in (r["img/s"][1:] or r["img/s"]))
    print(json.dumps({"framework": fw, "runs": len(mine), "mean-last-epoch": round(last, 4),
                      "mean-last-three": round(last3, 4), "median-img/s-after-epoch-1": speed}))
EOF
