"""MXNet's side of the ResNet convergence check: ../shared/baselines/mx_fit.py (MXNet 1.9.1
Module + ImageRecordIter, one JSON line per epoch) with the small-image ResNets of MXNet's
resnet.py added as networks (resnet-20, resnet-56, resnet-110: 3 stages, 16/32/64 filters,
input 3×28×28), built by scripts/fixtures/mxnet_resnet.py: the same code that writes the
ResNet test fixtures. Every flag is mx_fit.py's.
  D=$HOME/.cache/gannet-baselines/data/rec
  ~/.cache/gannet-baselines/mx/bin/python scripts/mx_fit_resnet.py --network resnet-20 \\
      --train $D/photos32_train.rec --val $D/photos32_val.rec --epochs 8 --seed 1"""
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
BASELINES = os.environ.get("GANNET_BASELINES", os.path.join(HERE, "..", "..", "shared", "baselines"))
for path in (os.path.join(HERE, "fixtures"), os.path.join(BASELINES, "train"), BASELINES):
    sys.path.insert(0, path)

import mx_fit  # noqa: E402

DEPTHS = {"resnet-20": 20, "resnet-56": 56, "resnet-110": 110}


def main():
    mx_fit._ensure_mx_env()  # re-executes under the baselines' MXNet before anything imports it
    import mx_models
    import mxnet_resnet

    plain_get = mx_models.get

    def get(name, pool="full", num_classes=1000):
        if name in DEPTHS.values():
            return mxnet_resnet.resnet(name, num_classes, 28)
        return plain_get(name, pool, num_classes)

    mx_models.get = get
    for network, depth in DEPTHS.items():
        mx_fit.NETWORKS[network] = depth
        mx_fit.DEFAULT_SHAPE[network] = "3,28,28"
    mx_fit.main()


if __name__ == "__main__":
    main()
