#!/usr/bin/env python3
"""Writes tests/fixtures/gguf: random blocks of every ggml type weightcast dequantizes, in a GGUF
written by gguf-py's own GGUFWriter, and the float32 values gguf-py's dequantizer gives for them
(the independent oracle; Q8_K, which gguf-py lacks, is decoded with numpy from its layout).

    pip install gguf && python3 scripts/make_gguf_fixtures.py
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")

# Byte offsets of each block's float16 scale fields: random bytes there could be NaN or inf.
HALF_FIELDS = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
               T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def random_blocks(rng, qtype, n_blocks):
    _, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in HALF_FIELDS.get(qtype, []):
        d = (rng.standard_normal(n_blocks) * 0.01).astype(np.float16)
        blocks[:, off:off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    if qtype == T.Q8_K:
        blocks[:, 0:4] = (rng.standard_normal(n_blocks) * 0.01).astype(np.float32).view(np.uint8).reshape(n_blocks, 4)
    return blocks


def dequantize_q8_k(blocks):
    d = blocks[:, 0:4].copy().view(np.float32)
    q = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(-1)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(11)
    writer = gguf.GGUFWriter(os.path.join(OUT, "blocks.gguf"), "llama")
    expected = []
    for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]:
        block_size, _ = GGML_QUANT_SIZES[qtype]
        rows, blocks_per_row = 3, 2
        blocks = random_blocks(rng, qtype, rows * blocks_per_row)
        raw = blocks.reshape(rows, -1)
        if qtype == T.Q8_K:
            values = dequantize_q8_k(blocks)
        else:
            values = gguf.quants.dequantize(raw, qtype).reshape(-1).astype(np.float32)
        expected.append(values)
        writer.add_tensor(f"t_{qtype.name}", raw, raw_dtype=qtype)  # byte shape: (rows, bytes per row)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    np.concatenate(expected).astype("<f4").tofile(os.path.join(OUT, "blocks-expected.f32"))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
