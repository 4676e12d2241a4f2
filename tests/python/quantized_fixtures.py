"""Pre-quantized checkpoints written with numpy from each format's documented packing, and an
independent numpy dequantizer for each (docs/source-formats.md#quantized-checkpoints).

Writers: GPTQ (AutoGPTQ / GPTQModel: codes packed LSB-first along the input dimension, zeros
along the output dimension, v1 zeros stored minus one), AutoAWQ GEMM (codes along the output
dimension with the interleaved nibble order), compressed-tensors pack-quantized (codes along the
input dimension with an offset of 2^(bits-1), zero points packed along the output dimension) and
FP8 e4m3 with block scales (weight_scale_inv). The dequantizers follow the reference libraries'
arithmetic: products in the scales' dtype (numpy's float16 and ml_dtypes' bfloat16 multiply in
float32 and round once, as torch does).
"""
import json
import os

import ml_dtypes
import numpy as np

import make_arch_fixtures
import make_fixtures
from hf_checkpoint import random_tensor

BF16 = ml_dtypes.bfloat16
FP8 = ml_dtypes.float8_e4m3fn


# ---------------------------------------------------------------- float models to quantize


def llama(seed=3):
    """A tiny Llama whose Linear sizes are multiples of 128 (float32 tensors, config)."""
    cfg = make_fixtures.config_for(False, None, hidden=128, inter=256, heads=8, kv_heads=4)
    return cfg, make_fixtures.make_tensors(cfg, seed=seed)


def mixtral(seed=4):
    """A tiny Mixtral (4 experts, hidden 64, intermediate 96)."""
    cfg, shapes = make_arch_fixtures.mixtral()
    rng = np.random.default_rng(seed)
    return cfg, {k: random_tensor(k, s, rng).astype(np.float32) for k, s in shapes.items()}


def is_quantized_linear(name, shape):
    """What the quantizers pack: 2-D Linear weights, not the embedding, the head or a router."""
    return (len(shape) == 2 and name.endswith(".weight") and "embed_tokens" not in name
            and not name.startswith("lm_head") and not name.endswith("gate.weight"))


# ---------------------------------------------------------------- bit streams


def pack_stream(codes, bits, axis):
    """Unsigned codes -> int32 words, each column (axis 0) or row (axis 1) one LSB-first bit
    stream: code i at bits [i*bits, (i+1)*bits), straddling words where it must."""
    c = np.asarray(codes, np.uint64)
    if axis == 1:
        return pack_stream(c.T, bits, 0).T.copy()
    n, m = c.shape
    stream = ((c[:, None, :] >> np.arange(bits, dtype=np.uint64)[None, :, None]) & 1).reshape(n * bits, m)
    words = -(-n * bits // 32)
    stream = np.concatenate([stream, np.zeros((words * 32 - n * bits, m), np.uint64)])
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))[None, :, None]
    return (stream.reshape(words, 32, m) * weights).sum(axis=1).astype(np.uint32).view(np.int32)


def unpack_stream(words, bits, count, axis):
    """The inverse of pack_stream: `count` codes per column (axis 0) or row (axis 1)."""
    w = np.asarray(words).view(np.uint32)
    if axis == 1:
        return unpack_stream(w.T, bits, count, 0).T.copy()
    stream = ((w[:, None, :].astype(np.uint64) >> np.arange(32, dtype=np.uint64)[None, :, None]) & 1)
    stream = stream.reshape(-1, w.shape[1])[: count * bits].reshape(count, bits, w.shape[1])
    return (stream << np.arange(bits, dtype=np.uint64)[None, :, None]).sum(axis=1).astype(np.int64)


# ---------------------------------------------------------------- GPTQ

V1_ADD = {2: 0x55555555, 4: 0x11111111, 8: 0x01010101}


def gptq_quantize(w, bits, group, sym, perm=None):
    """GPTQ-style codes of w [out, in]: columns grouped by g_idx (act-order: group of column i is
    invperm[i] // group), scales float16 [groups, out], zeros [groups, out]."""
    out_f, in_f = w.shape
    maxq = (1 << bits) - 1
    if perm is None:
        g_idx = (np.arange(in_f) // group if group > 0 else np.zeros(in_f)).astype(np.int32)
    else:
        invperm = np.argsort(perm)
        g_idx = (invperm // group).astype(np.int32)
    groups = int(g_idx.max()) + 1
    scales = np.zeros((groups, out_f), np.float16)
    zeros = np.zeros((groups, out_f), np.int64)
    for g in range(groups):
        cols = w[:, g_idx == g]
        lo, hi = np.minimum(cols.min(axis=1), 0), np.maximum(cols.max(axis=1), 0)
        if sym:
            hi = np.maximum(np.abs(lo), hi)
            lo = -hi
        s = np.maximum((hi - lo) / maxq, 1e-5).astype(np.float16)
        scales[g] = s
        zeros[g] = (maxq + 1) // 2 if sym else np.clip(np.round(-lo / s.astype(np.float32)), 0, maxq)
    if not sym:
        zeros[0, :3] = 0  # zeros of 0: stored as -1 in v1, where the readers disagree
    step = scales.astype(np.float32)[g_idx].T
    codes = np.clip(np.round(w / step) + zeros[g_idx].T, 0, maxq).astype(np.int64)
    return codes, zeros, scales, g_idx


def gptq_tensors(w, bits=4, group=128, sym=True, act_order=False, v2=False, rng=None):
    """The tensors GPTQ writes for w [out, in]: qweight, qzeros, scales, g_idx."""
    perm = rng.permutation(w.shape[1]) if act_order else None
    codes, zeros, scales, g_idx = gptq_quantize(w, bits, group, sym, perm)
    qzeros = pack_stream(zeros, bits, axis=1).view(np.uint32)
    if not v2:  # GPTQModel's v2 -> v1: subtract one from every field, word-wise (borrowing)
        if bits == 3:
            qzeros = pack_stream((zeros - 1) & 7, bits, axis=1).view(np.uint32)
        else:
            qzeros = (qzeros.astype(np.uint64) - V1_ADD[bits]).astype(np.uint32)
    return {"qweight": pack_stream(codes.T, bits, axis=0), "qzeros": qzeros.view(np.int32),
            "scales": scales, "g_idx": g_idx}


def gptq_dequantize(t, bits, v2=False):
    """GPTQModel's dequantization: scales[g_idx] * (q - z) in float16, as [out, in] float32."""
    q = unpack_stream(t["qweight"], bits, t["qweight"].shape[0] * 32 // bits, axis=0)  # [in, out]
    out_f = t["scales"].shape[1]
    words = t["qzeros"].view(np.uint32)
    if not v2 and bits != 3:
        words = (words.astype(np.uint64) + V1_ADD[bits]).astype(np.uint32)
    z = unpack_stream(words, bits, out_f, axis=1)
    if not v2 and bits == 3:
        z = (z + 1) & 7
    g = t["g_idx"]
    w = t["scales"][g] * (q - z[g]).astype(np.float16)
    return w.astype(np.float32).T.copy()


# ---------------------------------------------------------------- AutoAWQ GEMM


def gptq_as_awq(t, v2=False):
    """The AutoAWQ GEMM tensors holding a 4-bit GPTQ module's codes, zeros and scales."""
    q = unpack_stream(t["qweight"], 4, t["qweight"].shape[0] * 8, axis=0)  # [in, out]
    out_f = t["scales"].shape[1]
    words = t["qzeros"].view(np.uint32)
    if not v2:
        words = (words.astype(np.uint64) + V1_ADD[4]).astype(np.uint32)
    z = unpack_stream(words, 4, out_f, axis=1)
    return {"qweight": make_fixtures.awq_pack(q), "qzeros": make_fixtures.awq_pack(z), "scales": t["scales"]}



def awq_tensors(w, group=128):
    codes, zeros, scales = make_fixtures.awq_quantize(w, group)
    return {"qweight": make_fixtures.awq_pack(np.ascontiguousarray(codes.T)),
            "qzeros": make_fixtures.awq_pack(np.ascontiguousarray(zeros.T)),
            "scales": np.ascontiguousarray(scales.T)}


def awq_dequantize(t, group=128):
    """(q - z) * s in float16; nibble k of a word holds column [0, 2, 4, 6, 1, 3, 5, 7][k]."""
    def unpack(words):
        w = words.view(np.uint32)
        out = np.zeros((w.shape[0], w.shape[1] * 8), np.int64)
        for k, col in enumerate(make_fixtures.AWQ_ORDER):
            out[:, col::8] = (w >> np.uint32(4 * k)) & 15
        return out
    q, z = unpack(t["qweight"]), np.repeat(unpack(t["qzeros"]), group, axis=0)
    s = np.repeat(t["scales"], group, axis=0)
    return ((q - z).astype(np.float16) * s).astype(np.float32).T.copy()


# ---------------------------------------------------------------- compressed-tensors


def packed_tensors(w, bits=4, group=32, sym=True, zp_int8=False):
    """pack-quantized tensors of w [out, in] (group > 0: group strategy, else per channel), bf16
    scales; asymmetric zero points packed along the output rows (int8 [out, groups] if zp_int8)."""
    out_f, in_f = w.shape
    gs = group if group > 0 else in_f
    g = w.reshape(out_f, in_f // gs, gs)
    half = 1 << (bits - 1)
    if sym:
        scale = (np.maximum(np.abs(g).max(axis=-1), 1e-5) / (half - 1)).astype(BF16)
        zp = np.zeros(scale.shape, np.int64)
    else:
        lo, hi = np.minimum(g.min(axis=-1), 0), np.maximum(g.max(axis=-1), 0)
        scale = (np.maximum(hi - lo, 1e-5) / (2 * half - 1)).astype(BF16)
        zp = np.clip(np.round(-lo / scale.astype(np.float32)) - half, -half, half - 1).astype(np.int64)
    q = np.clip(np.round(g / scale.astype(np.float32)[..., None]) + zp[..., None], -half, half - 1)
    t = {"weight_packed": pack_stream((q.reshape(out_f, in_f) + half).astype(np.int64), bits, axis=1),
         "weight_shape": np.array([out_f, in_f], np.int64), "weight_scale": scale}
    if not sym:
        t["weight_zero_point"] = zp.astype(np.int8) if zp_int8 else pack_stream(zp + half, bits, axis=0)
    return t


def packed_dequantize(t, bits):
    """compressed-tensors: (q - zp) * scale in the scale's dtype (bf16), upcast to float32."""
    out_f, in_f = (int(x) for x in t["weight_shape"])
    half = 1 << (bits - 1)
    q = unpack_stream(t["weight_packed"], bits, in_f, axis=1) - half
    scale = t["weight_scale"]
    groups = scale.shape[1]
    zp = t.get("weight_zero_point")
    if zp is None:
        zp = np.zeros((out_f, groups), np.int64)
    elif zp.dtype == np.int8:
        zp = zp.astype(np.int64)
    else:
        zp = unpack_stream(zp, bits, out_f, axis=0) - half
    cols = np.arange(in_f) // (in_f // groups)
    return ((q - zp[:, cols]).astype(BF16) * scale[:, cols]).astype(np.float32)


# ---------------------------------------------------------------- FP8 with block scales


def fp8_tensors(w, block, rng, power_of_two=False):
    """An FP8 weight and its float32 weight_scale_inv [ceil(out/b0), ceil(in/b1)]."""
    rows, cols = -(-w.shape[0] // block[0]), -(-w.shape[1] // block[1])
    scale = (rng.random((rows, cols)) * 0.01 + 1e-3).astype(np.float32)
    if power_of_two:
        scale = np.exp2(np.round(np.log2(scale))).astype(np.float32)
    full = np.repeat(np.repeat(scale, block[0], axis=0), block[1], axis=1)[: w.shape[0], : w.shape[1]]
    return {"weight": np.clip(w / full, -448, 448).astype(FP8), "weight_scale_inv": scale}


def fp8_dequantize(t, block):
    s = np.repeat(np.repeat(t["weight_scale_inv"], block[0], axis=0), block[1], axis=1)
    w = t["weight"].astype(np.float32)
    return w * s[: w.shape[0], : w.shape[1]]


# ---------------------------------------------------------------- checkpoints

ST_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(BF16): "BF16",
             np.dtype(np.int32): "I32", np.dtype(np.int64): "I64", np.dtype(np.int8): "I8",
             np.dtype(FP8): "F8_E4M3"}


def save_ordered(tensors, path):
    """A safetensors file whose header and data keep the dict's order (the safetensors package
    sorts by dtype), so that a quantized checkpoint and its float reference list their modules
    in the same order, which MLC's loading order follows."""
    header, offset = {}, 0
    for name, arr in tensors.items():
        header[name] = {"dtype": ST_DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr).tobytes())


def write_dir(out_dir, cfg, tensors):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_ordered(tensors, os.path.join(out_dir, "model.safetensors"))


def write_quantized(out_dir, ref_dir, cfg, floats, quant_config, quantize, dequantize, dtype=np.float16):
    """Writes the quantized checkpoint (each quantized Linear's `.weight` replaced, in place, by
    the tensors `quantize(w)` names, the first of them its main tensor) and the float checkpoint it
    stands for: the same config without quantization_config, the numpy-dequantized float32 weights
    in the main tensors' places. Returns the dequantized weights."""
    tensors, reference, expected = {}, {}, {}
    for name, w in floats.items():
        if not is_quantized_linear(name, w.shape):
            with np.errstate(over="ignore"):
                tensors[name] = reference[name] = w.astype(dtype)
            continue
        base = name[: -len(".weight")]
        parts = quantize(w)
        for suffix, arr in parts.items():
            tensors[f"{base}.{suffix}"] = arr
        expected[name] = reference[name] = dequantize(parts)
    write_dir(out_dir, {**cfg, "quantization_config": quant_config}, tensors)
    write_dir(ref_dir, cfg, reference)
    return expected
