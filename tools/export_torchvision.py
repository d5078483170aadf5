#!/usr/bin/env python3
"""Writes a torchvision model's weights to a .safetensors file that lacoot loads unchanged.

    /usr/bin/python3 tools/export_torchvision.py MODEL OUT.safetensors [--num-classes N]
        [--weights DEFAULT|NONE|path/to/state_dict.pth] [--cifar]

MODEL is a torchvision builder name (resnet18, mobilenet_v2, vgg16, vgg16_bn, ...). --weights
DEFAULT asks torchvision for its pretrained weights (these need a download torchvision caches
under ~/.cache/torch; lacoot itself never downloads anything); a .pth path loads a state_dict a
user saved; NONE keeps the random initialisation. --cifar applies the LaCoOT reference's CIFAR
changes (resnet18: 3x3 stride-1 stem; mobilenet_v2: stride 1 in the stem and features.2) so
the keys and shapes match `lacoot run --model resnet18-cifar` / `mobilenet_v2-cifar`.

Every state_dict entry is written under its own name, in order, buffers included
(num_batches_tracked as I64): the safetensors layout is written here by hand (8-byte header
length, JSON header, raw little-endian data), since Debian has no python3-safetensors.
Needs PyTorch and torchvision (tools/setup.sh --torch).
"""
import argparse
import json
import os
import struct
import sys

import torch
import torchvision

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.float16: "F16", torch.bfloat16: "BF16"}


def save_safetensors(state, path, metadata):
    header, chunks, offset = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous().cpu()
        if t.dtype not in DTYPES:
            sys.exit(f"export_torchvision: {name} has dtype {t.dtype}, which safetensors here does not take")
        data = t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the reference writer pads
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:  # written whole, then renamed: a crash never leaves half a file
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--weights", default="NONE")
    p.add_argument("--cifar", action="store_true")
    a = p.parse_args()

    kwargs = {} if a.num_classes is None else {"num_classes": a.num_classes}
    if a.weights == "DEFAULT":
        model = torchvision.models.get_model(a.model, weights="DEFAULT", **kwargs)
    else:
        model = torchvision.models.get_model(a.model, weights=None, **kwargs)
        if a.weights != "NONE":
            model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    if a.cifar:
        if a.model.startswith("resnet"):
            model.conv1 = torch.nn.Conv2d(model.conv1.in_channels, model.conv1.out_channels, 3, 1, 1, bias=False)
        elif a.model == "mobilenet_v2":
            model.features[0][0].stride = (1, 1)
            model.features[2].conv[1][0].stride = (1, 1)
        else:
            sys.exit(f"export_torchvision: --cifar is defined for resnet* and mobilenet_v2, not {a.model}")
    save_safetensors(model.state_dict(), a.out, {"source": f"torchvision {torchvision.__version__} {a.model}"})
    print(f"wrote {a.out}: {len(model.state_dict())} tensors")


if __name__ == "__main__":
    main()
