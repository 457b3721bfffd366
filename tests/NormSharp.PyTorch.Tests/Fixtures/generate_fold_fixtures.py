#!/usr/bin/env python3
"""What PyTorch's own fusion gives for resnet.pt: the expectations of FoldCliTests.

Run with Debian's PyTorch (PyTorch 1.13) from this folder, after generate_fixtures.py:  /usr/bin/python3 generate_fold_fixtures.py

Loads resnet.pt into the ResNet-style model, fuses every conv/bn pair with torch.nn.utils.fusion.fuse_conv_bn_eval (the
BatchNorm replaced by an identity), and writes resnet_folded_by_pytorch.pt (the fused model's state dict: each conv with a
bias, no BatchNorm keys) and fold_expected.json (its keys, and the largest difference between the original and the fused
model's outputs on a random input, in evaluation mode).
"""
import copy
import json
import os

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from generate_fixtures import HERE, ResNetStyle

PAIRS = [("conv1", "bn1")] + [(f"{block}.conv{k}", f"{block}.bn{k}") for block in ["layer1.0", "layer1.1", "layer2.0"] for k in (1, 2)] \
    + [("layer2.0.downsample.0", "layer2.0.downsample.1")]


def main():
    torch.manual_seed(20240613)
    model = ResNetStyle()
    model.load_state_dict(torch.load(os.path.join(HERE, "resnet.pt")))
    model.eval()
    fused = copy.deepcopy(model)
    for conv_name, bn_name in PAIRS:
        conv, bn = fused.get_submodule(conv_name), fused.get_submodule(bn_name)
        for name, module in [(conv_name, fuse_conv_bn_eval(conv, bn)), (bn_name, torch.nn.Identity())]:
            parent, _, leaf = name.rpartition(".")
            setattr(fused.get_submodule(parent) if parent else fused, leaf, module)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        difference = (model(x) - fused(x)).abs().max().item()
    state = fused.state_dict()
    torch.save(state, os.path.join(HERE, "resnet_folded_by_pytorch.pt"))
    with open(os.path.join(HERE, "fold_expected.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "pairs": PAIRS, "keys": list(state.keys()), "max_output_difference": difference}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
