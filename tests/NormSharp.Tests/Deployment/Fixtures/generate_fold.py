#!/usr/bin/env python3
"""PyTorch's own outputs for FoldingTests' cross-check of the test project's reference convolutions and of the fold.

Run with Debian's PyTorch (PyTorch 1.13) from this folder:  /usr/bin/python3 generate_fold.py
For each case: a layer (weights from a fixed seed, float64), a BatchNorm2d after it with set running statistics in eval,
a probe input, bn(layer(x)) as PyTorch computes it, and the weight and bias torch.nn.utils.fusion.fuse_conv_bn_weights gives (or its error: PyTorch 1.13 cannot fuse a grouped
transposed convolution).
"""
import json
import os

import torch
from torch.nn.utils.fusion import fuse_conv_bn_weights

HERE = os.path.dirname(os.path.abspath(__file__))


def case(layer, transposed, in_channels, out_channels):
    bn = torch.nn.BatchNorm2d(out_channels).double()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(out_channels, dtype=torch.float64) * 2)
        bn.running_var.copy_(torch.rand(out_channels, dtype=torch.float64) * 3 + 0.1)
        bn.weight.copy_(torch.randn(out_channels, dtype=torch.float64))
        bn.bias.copy_(torch.randn(out_channels, dtype=torch.float64))
    bn.num_batches_tracked.fill_(10)
    bn.eval()
    layer = layer.double()
    x = torch.randn(2, in_channels, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        y = bn(layer(x))
        try:
            fused_w, fused_b = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
                                                    transpose=transposed)
            fuse_error = None
        except RuntimeError as e:
            # PyTorch 1.13's fuse_conv_bn_weights reshapes a transposed weight as [1, out, 1, ...]: wrong for groups > 1.
            fused_w = fused_b = None
            fuse_error = str(e)
    flat = lambda t: None if t is None else t.detach().reshape(-1).tolist()
    return {
        "weight": flat(layer.weight), "weight_shape": list(layer.weight.shape),
        "bias": flat(layer.bias) if layer.bias is not None else None,
        "groups": layer.groups, "stride": list(layer.stride), "padding": list(layer.padding),
        "running_mean": flat(bn.running_mean), "running_var": flat(bn.running_var), "bn_weight": flat(bn.weight), "bn_bias": flat(bn.bias),
        "eps": bn.eps, "x": flat(x), "x_shape": list(x.shape), "y": flat(y), "y_shape": list(y.shape),
        "fused_weight": flat(fused_w), "fused_bias": flat(fused_b), "fuse_error": fuse_error,
    }


def main():
    torch.manual_seed(20240612)
    cases = {
        "Conv2d(4, 6, 3, stride 2, padding 1, groups 2)": case(torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), False, 4, 6),
        "ConvTranspose2d(4, 6, 3, stride 2, padding 1, groups 2)": case(torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2), True, 4, 6),
        "ConvTranspose2d(4, 4, 2, groups 4, no bias)": case(torch.nn.ConvTranspose2d(4, 4, 2, groups=4, bias=False), True, 4, 4),
    }
    with open(os.path.join(HERE, "fold_expected.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
