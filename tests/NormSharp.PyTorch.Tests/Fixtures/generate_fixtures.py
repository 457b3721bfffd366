#!/usr/bin/env python3
"""Writes the torch.save fixtures of NormSharp.PyTorch.Tests with real PyTorch, and what PyTorch reads back.

Run with Debian's PyTorch (apt-get install python3-torch, PyTorch 1.13) from this folder:

    /usr/bin/python3 generate_fixtures.py

CI never runs this: the .pt files and expected.json it writes are committed. expected.json holds, for each fixture,
what torch.load(weights_only=True) gives (dtype, shape, the first values, the sum and a SHA-256 of every value as
little-endian float64), the _metadata versions, what load_state_dict does with old-format counters, and the messages
PyTorch's weights-only unpickler gives for the malicious files.
"""
import hashlib
import json
import os
import struct
import subprocess
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20240611)


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + identity)


class ResNetStyle(nn.Module):
    """A small ResNet: the key names of torchvision's (bn1, layer1.0.bn1, layer2.0.downsample.1, fc)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(Block(8, 8), Block(8, 8))
        self.layer2 = nn.Sequential(Block(8, 16, stride=2))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(x.mean((2, 3)))


def trained_resnet():
    model = ResNetStyle()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for step in range(5):
        x = torch.randn(4, 3, 8, 8) * (1 + step) + step
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model, optimizer


def describe(value):
    """What a test checks of one tensor: values as float64 (exact for every dtype used here)."""
    flat = value.detach().reshape(-1).to(torch.float64).tolist()
    digest = hashlib.sha256(b"".join(struct.pack("<d", v) for v in flat)).hexdigest()
    return {
        "dtype": str(value.dtype).replace("torch.", ""),
        "shape": list(value.shape),
        "first": flat[:6],
        "sum": sum(flat),
        "sha256": digest,
    }


def describe_file(name, weights_only=True):
    # PyTorch 1.13's weights-only unpickler knows protocol 2's opcodes only; protocol 4's file is read the plain way.
    loaded = torch.load(os.path.join(HERE, name), weights_only=weights_only)
    entry = {"tensors": {k: describe(v) for k, v in loaded.items() if isinstance(v, torch.Tensor)}}
    metadata = getattr(loaded, "_metadata", None)
    if metadata is not None:
        entry["metadata"] = {k: dict(v) for k, v in metadata.items()}
    return entry


def save(obj, name, **kwargs):
    torch.save(obj, os.path.join(HERE, name), **kwargs)


class Reduce:
    """An object whose pickle calls func(*args) on load: what a malicious checkpoint does."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def main():
    expected = {"torch_version": torch.__version__}
    model, optimizer = trained_resnet()
    state = model.state_dict()

    save(state, "resnet.pt")
    save(state, "resnet_protocol4.pt", pickle_protocol=4)
    save(model.double().state_dict(), "resnet_float64.pt")
    model.float()
    save(model.half().state_dict(), "resnet_float16.pt")
    model.float()
    save(model.to(torch.bfloat16).state_dict(), "resnet_bfloat16.pt")
    model.float()
    for name in ["resnet.pt", "resnet_float64.pt", "resnet_float16.pt", "resnet_bfloat16.pt"]:
        expected[name] = describe_file(name)
    expected["resnet_protocol4.pt"] = describe_file("resnet_protocol4.pt", weights_only=False)

    # Views: tensors that share one storage, at offsets, with non-contiguous strides, 0-dim and empty.
    base = torch.arange(48, dtype=torch.float32).reshape(6, 8) / 4 - 3
    unsaved = torch.linspace(-1, 1, 64, dtype=torch.float64)
    views = {
        "base": base,
        "row": base[2],
        "column": base[:, 3],
        "transposed": base.t(),
        "strided": base[1:5:2, ::3],
        "scalar": base[4, 5],
        "empty": base[:, 0:0],
        "expanded": torch.tensor([1.5, -2.0, 3.25]).expand(4, 3),
        "tail_of_unsaved": unsaved[60:],
        "bn.running_mean": base[5, 4:],
        "bn.num_batches_tracked": torch.tensor(7),
    }
    save(views, "views.pt")
    expected["views.pt"] = describe_file("views.pt")
    expected["views.pt"]["contiguous"] = {k: v.is_contiguous() for k, v in views.items()}

    # A state dict as an old PyTorch would have loaded it: bn1 at version 1 without its counter (the migration supplies
    # 0), layer1.0.bn2 at version 2 without its counter (missing).
    old = model.state_dict()
    del old["bn1.num_batches_tracked"]
    del old["layer1.0.bn2.num_batches_tracked"]
    old._metadata["bn1"]["version"] = 1
    save(old, "old_versions.pt")
    expected["old_versions.pt"] = describe_file("old_versions.pt")
    fresh = ResNetStyle()
    try:
        fresh.load_state_dict(torch.load(os.path.join(HERE, "old_versions.pt"), weights_only=True))
        expected["old_versions.pt"]["strict_error"] = None
    except RuntimeError as e:
        expected["old_versions.pt"]["strict_error"] = str(e)
    fresh = ResNetStyle()
    fresh.bn1.num_batches_tracked.fill_(99)
    result = fresh.load_state_dict(torch.load(os.path.join(HERE, "old_versions.pt"), weights_only=True), strict=False)
    expected["old_versions.pt"]["non_strict"] = {
        "missing": result.missing_keys,
        "unexpected": result.unexpected_keys,
        "bn1.num_batches_tracked": int(fresh.bn1.num_batches_tracked),
    }

    # A training checkpoint: the state dict is one entry among others.
    save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "best_accuracy": 0.91},
         "checkpoint.pt")
    # Its floats (BINFLOAT) are past PyTorch 1.13's weights-only unpickler, which PyTorch 2.x reads: read the plain way.
    loaded = torch.load(os.path.join(HERE, "checkpoint.pt"), weights_only=False)
    expected["checkpoint.pt"] = {"model": {k: describe(v) for k, v in loaded["model"].items()}}

    # A lazy layer's state dict before its first forward: UninitializedParameter / UninitializedBuffer, which PyTorch's
    # weights-only load refuses (NormSharp too, saying what they are).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Lazy modules are a new feature under heavy development"
        save(nn.LazyBatchNorm2d().state_dict(), "lazy.pt")

    # The format before PyTorch 1.6.
    small = nn.BatchNorm1d(4).state_dict()
    save(small, "legacy.pt", _use_new_zipfile_serialization=False)

    # Files that would run a command if loaded with pickle (or torch.load(weights_only=False)).
    marker = "/tmp/normsharp-fixture-pwned"
    weight = torch.ones(3)
    malicious = {
        "malicious_os_system.pt": Reduce(os.system, ("touch " + marker,)),
        "malicious_eval.pt": Reduce(eval, ("__import__('os').system('touch " + marker + "')",)),
        "malicious_popen.pt": Reduce(subprocess.Popen, (["touch", marker],)),
    }
    for name, payload in malicious.items():
        save({"bn.weight": weight, "bn.bias": payload}, name)
        try:
            torch.load(os.path.join(HERE, name), weights_only=True)
            expected[name] = {"weights_only_error": None}
        except Exception as e:  # PyTorch wraps the unpickler's error in an UnpicklingError
            expected[name] = {"weights_only_error": str(e).splitlines()[-1]}
    if os.path.exists(marker):
        raise SystemExit("a malicious fixture ran its command while checking it")

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
