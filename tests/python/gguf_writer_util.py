"""Tiny HF checkpoints written as GGUF files the way llama.cpp's convert_hf_to_gguf.py lays them
out, and read back with gguf-py: the tests' own model of that converter, sharing nothing with
weightcast's C++ views.

A family's layout is a list of Entry records, one per GGUF tensor in file order, each naming the
HF tensors it was made from and how. write_gguf() applies them to an HF checkpoint's arrays;
hf_from_gguf() inverts them from gguf-py's dequantization of the written file, which gives the HF
checkpoint a quantized GGUF stands for (the oracle then converts that).
"""
import json
import os

import numpy as np

import gguf
from hf_checkpoint import read_safetensors, write_checkpoint

T = gguf.GGMLQuantizationType


def permute(w, n_head):
    """llama.cpp's q/k permutation: per head, the two halves of its rows interleaved."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Entry:
    """One GGUF tensor from HF tensors `hf`: one as is, several stacked (experts, "stack") or
    concatenated along rows ("concat"). Per source, before combining: transpose, then permute rows
    for `permute` heads (a list: one count per source, 0 for none); then `add` to every value.
    f32: kept float32 whatever the file's type (norms, biases, routers)."""

    def __init__(self, gguf_name, hf, how="plain", permute=None, add=0.0, transpose=False, f32=False):
        self.gguf, self.hf = gguf_name, [hf] if isinstance(hf, str) else list(hf)
        self.how, self.add, self.transpose, self.f32 = how, add, transpose, f32
        self.permute = permute if isinstance(permute, list) else [permute or 0] * len(self.hf)

    def forward(self, arrays):
        srcs = []
        for name, heads in zip(self.hf, self.permute):
            a = arrays[name].astype(np.float32)
            a = a.T if self.transpose else a
            srcs.append(permute(a, heads) if heads else a)
        out = {"plain": lambda s: s[0], "stack": np.stack, "concat": np.concatenate}[self.how](srcs)
        return (out + np.float32(self.add)).astype(np.float32) if self.add else out

    def inverse(self, g, shapes):
        g = g.astype(np.float32) - np.float32(self.add) if self.add else g.astype(np.float32)
        if self.how == "stack":
            parts = list(g)
        elif self.how == "concat":
            rows = [shapes[n][1 if self.transpose else 0] for n in self.hf]
            parts = np.split(g, np.cumsum(rows)[:-1])
        else:
            parts = [g]
        out = {}
        for name, heads, p in zip(self.hf, self.permute, parts):
            p = unpermute(p, heads) if heads else p
            out[name] = np.ascontiguousarray(p.T if self.transpose else p)
        return out


def read_hf(src_dir):
    """(config, names in file order, {name: float32 array}) of a one-file HF checkpoint."""
    with open(os.path.join(src_dir, "config.json")) as f:
        cfg = json.load(f)
    order, arrays = read_safetensors(os.path.join(src_dir, "model.safetensors"))
    return cfg, order, {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def write_hf(out_dir, cfg, arrays, order):
    """A float32 HF checkpoint, tensors in `order`."""
    write_checkpoint(str(out_dir), cfg, {k: np.ascontiguousarray(arrays[k], dtype=np.float32) for k in order})


def random_q4_k(shape, rng):
    """Random, valid Q4_K blocks for a [rows, cols] tensor (gguf-py can decode Q4_K, not encode it):
    small positive float16 d and dmin, random 6-bit scales and 4-bit codes."""
    rows, cols = shape
    blocks = rng.integers(0, 256, size=(rows, cols // 256, 144), dtype=np.uint8)
    scale = lambda: (rng.random((rows, cols // 256)) * 0.002 + 1e-4).astype(np.float16).view(np.uint8)  # noqa: E731
    blocks[..., 0:2] = scale().reshape(rows, cols // 256, 2)
    blocks[..., 2:4] = scale().reshape(rows, cols // 256, 2)
    return blocks.reshape(rows, cols // 256 * 144)


def encode(a, qtype, rng):
    """(data, raw_dtype) for GGUFWriter.add_tensor: F32/F16 as numpy arrays, quantized as bytes.
    A quantized type whose block does not divide the rows falls back to F16, as llama.cpp falls
    back to a type that fits."""
    if qtype == T.F32:
        return a.astype(np.float32), None
    if qtype == T.F16:
        return a.astype(np.float16), None
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if a.shape[-1] % block:
        return a.astype(np.float16), None
    if qtype == T.Q4_K:
        flat = a.reshape(-1, a.shape[-1])
        return random_q4_k(flat.shape, rng).reshape(*a.shape[:-1], -1), qtype
    return gguf.quants.quantize(a, qtype), qtype


def write_gguf(path, arch, entries, arrays, qtype=T.F32, kv=None, n_tokens=None, seed=0):
    """The GGUF file: general.architecture `arch`, kv(writer) for the metadata, a token list of
    n_tokens, and each entry's tensor (1-D and f32 entries in float32, the rest in `qtype`)."""
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch)
    if kv:
        kv(w)
    if n_tokens:
        w.add_token_list([f"t{i}" for i in range(n_tokens)])
    for e in entries:
        a = e.forward(arrays)
        data, raw = encode(a, T.F32 if e.f32 or a.ndim == 1 else qtype, rng)
        w.add_tensor(e.gguf, np.ascontiguousarray(data), raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def dequantized(path):
    """{GGUF name: float32 array in C order} as gguf-py reads and dequantizes the file."""
    reader = gguf.GGUFReader(str(path))
    return {t.name: np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
            for t in reader.tensors}


def hf_from_gguf(path, entries, shapes):
    """The HF tensors the file stands for: each entry inverted from gguf-py's dequantization."""
    g = dequantized(path)
    out = {}
    for e in entries:
        out.update(e.inverse(g[e.gguf], shapes))
    return out
