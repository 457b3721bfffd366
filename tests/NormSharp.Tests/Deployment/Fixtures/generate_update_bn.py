#!/usr/bin/env python3
"""What torch.optim.swa_utils.update_bn gives on fixed batches: the expected values of RecalibrationTests' per-batch parity.

Run with Debian's PyTorch (PyTorch 1.13) from this folder:  /usr/bin/python3 generate_update_bn.py
The batches are x[n, c] (BatchNorm1d on (N, C)) and x[n, c, l] (BatchNorm2d on (N, C, 2, 2)) as value() defines them, by
the sample's index k over all batches; the test builds the same numbers. An empty batch counts as a batch (the counter
moves, nothing is blended), as in update_bn.
"""
import json
import math
import os

import torch
from torch.optim import swa_utils

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [5, 0, 3, 2, 7]
C = 3


def value(k, c, s):
    return math.sin(0.37 * k + 1.3 * c + 0.11 * s) * (c + 1) + 10.0 * c + 1e4 * (c == 2)


def batches(spatial, dtype):
    out, k = [], 0
    for size in SIZES:
        shape = (size, C) if spatial == 0 else (size, C, 2, 2)
        t = torch.zeros(shape, dtype=torch.float64)
        for n in range(size):
            for c in range(C):
                if spatial == 0:
                    t[n, c] = value(k + n, c, 0)
                else:
                    for s in range(4):
                        t[n, c, s // 2, s % 2] = value(k + n, c, s)
        k += size
        out.append(t.to(dtype))
    return out


def main():
    expected = {"torch_version": torch.__version__, "sizes": SIZES}
    for name, module, spatial in [("BatchNorm1d", torch.nn.BatchNorm1d, 0), ("BatchNorm2d", torch.nn.BatchNorm2d, 4)]:
        for dtype in [torch.float64, torch.float32]:
            bn = module(C).to(dtype)
            bn.running_mean.fill_(5.0)
            bn.num_batches_tracked.fill_(42)
            bn.eval()
            swa_utils.update_bn(batches(spatial, dtype), bn)
            expected[f"{name}-{str(dtype).replace('torch.', '')}"] = {
                "running_mean": bn.running_mean.to(torch.float64).tolist(),
                "running_var": bn.running_var.to(torch.float64).tolist(),
                "num_batches_tracked": int(bn.num_batches_tracked),
                "training_after": bn.training,
            }
    with open(os.path.join(HERE, "update_bn_expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
