#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, tests/fuzz/corpus/<target>/: a few small valid files of each
format (and a couple of near misses), so libFuzzer starts inside the formats instead of
guessing magic numbers. Standard library only, except the JPEG, GIF and TGA seeds (PIL, skipped
when it is missing). Run from anywhere: /usr/bin/python3 tests/fuzz/make_corpus.py"""
import gzip
import io
import json
import os
import struct
import zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def safetensors(tensors, metadata=None):
    """tensors: (name, dtype, shape, raw bytes), laid out in order as the reference writer does."""
    header, offset = {}, 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def npy(descr, shape, raw, fortran=False, version=1):
    shape_text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    head_len = 10 if version == 1 else 12
    pad = -(head_len + len(text) + 1) % 64
    text = (text + " " * pad + "\n").encode()
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + raw


def png(width, height, rows, colour_type, bit_depth=8):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def bmp(width, height):
    row = bytes(range(3 * width)) + b"\x00" * (-3 * width % 4)
    pixels = row * height
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def main():
    # IDX: images [2, 3, 3] and labels [2], plain and gzipped; a float32 array; a truncated file.
    images = idx(0x08, [2, 3, 3], bytes(range(18)))
    labels = idx(0x08, [2], bytes([3, 9]))
    put("idx", "images", images)
    put("idx", "labels", labels)
    put("idx", "images.gz", gz(images))
    put("idx", "labels.gz", gz(labels))
    put("idx", "float32", idx(0x0D, [2, 2], struct.pack(">4f", 1, 2, 3, 4)))
    put("idx", "truncated", images[:-5])

    # CIFAR: two CIFAR-10 records (label, 3072 pixel bytes), one CIFAR-100 record, one gzipped.
    pixels = bytes(i % 256 for i in range(3072))
    put("cifar", "cifar10", bytes([1]) + pixels + bytes([9]) + pixels)
    put("cifar", "cifar100", bytes([4, 57]) + pixels)
    put("cifar", "cifar10.gz", gz(bytes([0]) + pixels))

    # Images: PNG (grey, RGB, RGBA, palette-less 16-bit grey), BMP, PPM, PGM; JPEG and GIF with PIL.
    put("image", "grey.png", png(3, 2, [bytes([0, 128, 255])] * 2, 0))
    put("image", "rgb.png", png(2, 2, [bytes(range(6))] * 2, 2))
    put("image", "rgba.png", png(2, 1, [bytes(range(8))], 6))
    put("image", "grey16.png", png(2, 1, [bytes(range(4))], 0, 16))
    put("image", "rgb.bmp", bmp(3, 2))
    put("image", "rgb.ppm", b"P6\n2 2\n255\n" + bytes(range(12)))
    put("image", "grey.pgm", b"P5\n3 1\n255\n" + bytes([1, 2, 3]))
    try:
        from PIL import Image
        im = Image.frombytes("RGB", (8, 8), bytes(range(192)))
        for fmt, name in (("JPEG", "rgb.jpg"), ("GIF", "rgb.gif"), ("TGA", "rgb.tga")):
            buf = io.BytesIO()
            im.save(buf, format=fmt)
            put("image", name, buf.getvalue())
    except ImportError:
        pass

    # safetensors: F32, I64, F16, BF16 and an empty tensor, with metadata; one without metadata.
    f32 = struct.pack("<6f", *range(6))
    st = safetensors([("a.weight", "F32", [2, 3], f32), ("b", "I64", [2], struct.pack("<2q", -1, 7)),
                      ("h", "F16", [2], struct.pack("<2e", 0.5, -2)), ("z", "BF16", [1], b"\x80\x3f"),
                      ("empty", "F32", [0, 4], b"")], {"format": "pt", "removed_blocks": "layer1.1"})
    put("safetensors", "mixed", st)
    put("safetensors", "plain", safetensors([("w", "F64", [1], struct.pack("<d", 3.5))]))

    # .npy: float32, float64 big-endian, int64, bool, uint8, Fortran order, version 2, a scalar.
    put("npy", "f4", npy("<f4", (2, 3), struct.pack("<6f", *range(6))))
    put("npy", "f8be", npy(">f8", (2,), struct.pack(">2d", 1.5, -2)))
    put("npy", "i8", npy("<i8", (3,), struct.pack("<3q", 1, 2, 3)))
    put("npy", "bool", npy("|b1", (2,), b"\x00\x01"))
    put("npy", "u1", npy("|u1", (1, 2, 2), bytes(range(4))))
    put("npy", "fortran", npy("<f4", (2, 2), struct.pack("<4f", 1, 2, 3, 4), fortran=True))
    put("npy", "v2", npy("<f4", (1,), struct.pack("<f", 7), version=2))
    put("npy", "scalar", npy("<f8", (), struct.pack("<d", 9)))

    # Checkpoints: the metadata lacoot writes (train/checkpoint.hpp), model and optimiser tensors.
    meta = {"format": "lacoot-checkpoint-1", "epoch": "1", "step_in_epoch": "3", "global_step": "13",
            "rng_seed": "18446744073709551615", "rng_offset": "42", "optimizer.lr": "0.10000000000000001",
            "optimizer.step": "13", "scheduler.last_epoch": "1", "info.model": "resnet18-cifar"}
    put("checkpoint", "checkpoint", safetensors([("model.fc.weight", "F32", [2, 3], f32),
                                                 ("optimizer.momentum_buffer.fc.weight", "F32", [2, 3], f32)], meta))
    put("checkpoint", "bad_epoch", safetensors([], dict(meta, epoch="1x")))


if __name__ == "__main__":
    main()
