#!/usr/bin/env bash
# The seed's whole job on embedded data: make an image folder, list and pack it, train a
# small Inception-BN, score it on held-out images and classify two of them.
set -euo pipefail
gannet="${GANNET:-.build/release/gannet}"
work="${DEMO_DIR:-demo}"
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)
echo "== 1. synth: 10 classes of photo-like images (objects told apart by shape and fill, not colour)"
"$gannet" synth "$work/images" --classes 10 --images-per-class 200 --size 36 --seed 1
echo "== 2. list (shuffled) with a 80/20 train/validation split, then pack to RecordIO"
"$gannet" list "$work/synth" "$work/images" --recursive --train-ratio 0.8 2>/dev/null
"$gannet" pack "$work/synth_train" "$work/images" --resize 32
"$gannet" pack "$work/synth_val" "$work/images" --resize 32
"$gannet" verify "$work/synth_val.rec"
echo "== 3. train inception-bn-small at 28x28"
"$gannet" train --network inception-bn-small --train "$work/synth_train.rec" --val "$work/synth_val.rec" \
  --num-classes 10 --data-shape 3,28,28 --batch-size 32 --epochs "${DEMO_EPOCHS:-10}" --lr 0.05 \
  --lr-step-epochs 8 --lr-factor 0.1 --wd 0.0001 --rand-crop --rand-mirror --mean-rgb 128,128,128 --scale 0.0078125 \
  --model-prefix "$work/model" --log-interval 10 --plot
epochs="${DEMO_EPOCHS:-10}"
echo "== 4. score the last checkpoint on the validation images"
"$gannet" score --model "$work/model" --epoch "$epochs" --data "$work/synth_val.rec"
echo "== 5. predict two images"
"$gannet" predict --model "$work/model" --epoch "$epochs" --synset "$work/synth.synset.txt" --top-k 3 \
  "$work/images/class_002/img_00007.jpg" "$work/images/class_008/img_00011.jpg"
echo "== done in $(( $(date +%s) - start )) s: checkpoints $work/model-*.params (MXNet's load_checkpoint reads them),"
echo "   metrics $work/model-metrics.csv, curves $work/model-curves.svg"
