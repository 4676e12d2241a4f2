"""An independent reimplementation of `mlc_llm convert_weight` in numpy, for every architecture
(the mappings are arch_oracle.PARAMS) and every scheme.

Written from MLC's documented behaviour (docs/mlc-format.md, docs/tensor-cache.md), sharing no
code with the C++ converter: its own loading order, casts (numpy / ml_dtypes), group quantization
in numpy's per-op float16 arithmetic, tvmjs shard packing, md5 via hashlib and the manifest via
Python's own json.dump. The tests compare weightcast's bytes against what this writes.
"""
import hashlib
import json
import os
import struct

import ml_dtypes
import numpy as np

import arch_oracle
from hf_checkpoint import read_safetensors

# name -> (kind, bits, group size, model dtype, layout, quantize embedding, quantize final fc)
SCHEMES = {
    "q0f16": ("no-quant", None, None, "float16", None, None, None),
    "q0bf16": ("no-quant", None, None, "bfloat16", None, None, None),
    "q0f32": ("no-quant", None, None, "float32", None, None, None),
    "q3f16_0": ("group-quant", 3, 40, "float16", "KN", True, True),
    "q3f16_1": ("group-quant", 3, 40, "float16", "NK", True, True),
    "q4f16_0": ("group-quant", 4, 32, "float16", "KN", True, True),
    "q4f16_1": ("group-quant", 4, 32, "float16", "NK", True, True),
    "q4bf16_0": ("group-quant", 4, 32, "bfloat16", "KN", True, True),
    "q4bf16_1": ("group-quant", 4, 32, "bfloat16", "NK", True, True),
    "q4f32_1": ("group-quant", 4, 32, "float32", "NK", True, True),
    "q4f16_2": ("group-quant", 4, 32, "float16", "NK", False, False),
    # per-tensor: (kind, fp8 dtype, use_scale, model dtype, calibration "inference")
    "e5m2_e5m2_f16": ("per-tensor", "e5m2", False, "float16", False, None, None),
    "e4m3_e4m3_f16": ("per-tensor", "e4m3", True, "float16", True, None, None),
    "e4m3_e4m3_f16_max_calibrate": ("per-tensor", "e4m3", True, "float16", False, None, None),
    "fp8_e4m3fn_bf16_block_scale": ("block-scale", None, None, "bfloat16", None, None, None),
    "fp8_e4m3fn_bf16_block_scale_static_activation": ("block-scale", None, None, "bfloat16", None, None, None),
    # AutoAWQ's packed tensors copied, the rest cast to float16
    "q4f16_autoawq": ("awq", None, None, "float16", None, None, None),
}

# The schemes that apply to any bf16/f16/f32 checkpoint (block-scale needs FP8 weights, AWQ an
# AutoAWQ export).
DENSE_SCHEMES = [name for name, spec in SCHEMES.items() if spec[0] not in ("block-scale", "awq")]
# What MLC can check bit for bit today: FP8 rounding on TVM's CPU path is not verified
# (docs/mlc-format.md).
EXACT_SCHEMES = [name for name, spec in SCHEMES.items() if spec[0] not in ("block-scale", "per-tensor", "awq")]
# Roles kept in their own dtype by every scheme (None: as the map fn left it).
KEPT_DTYPE = {"fp8": ml_dtypes.float8_e4m3fn, "f32": np.float32, "awq": None}

NP_DTYPE = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}


# ---------------------------------------------------------------- sources and mapping


def read_sources(source_dir):
    """MLC's torch_to_path (name -> file, in weight-map order) and {file: {name: array}}."""
    index = os.path.join(source_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            wmap = {k: os.path.join(source_dir, v) for k, v in json.load(f)["weight_map"].items()}
        return wmap, {path: read_safetensors(path)[1] for path in dict.fromkeys(wmap.values())}
    single = os.path.join(source_dir, "model.safetensors")
    order, arrays = read_safetensors(single)
    return {k: single for k in order}, {single: arrays}


def is_moe_gate(name, out_features):
    """A router: a Linear whose module name ends in "gate", with at most 256 outputs. Every
    scheme leaves it unquantized."""
    return name[: -len(".weight")].endswith("gate") and out_features <= 256


def block_scale(params, cfg, static, shapes):
    """BlockScaleQuantize on an FP8 checkpoint: non-final, non-router Linears, experts and MLA's
    w_uk / w_uv keep their FP8 weights and gain weight_scale_inv (float32), mapped like them.
    `shapes` gives each source's shape (a router is known by its outputs)."""
    block = cfg["quantization_config"]["weight_block_size"]
    out = []
    for mlc, srcs, role, final_fc, fn in params:
        scales = [s + "_scale_inv" for s in srcs]
        if mlc.endswith(("w_uk", "w_uv")):
            part = 0 if mlc.endswith("w_uk") else 1
            out += [(mlc, srcs, "fp8", False, fn), (mlc + "_scale_inv", scales, "f32", False,
                                                       arch_oracle.deepseek_kv_b(cfg, part, block))]
        elif role == "experts" or (role == "linear" and not final_fc
                                   and not is_moe_gate(mlc, shapes[srcs[0]][0])):
            out += [(mlc, srcs, "fp8", False, fn), (mlc + "_scale_inv", scales, "f32", False, fn)]
            if static and role == "linear":
                name = mlc[: -len(".weight")] + ".activation_scale"
                out.append((name, [name], "f32", False, None))
        else:
            out.append((mlc, srcs, role, final_fc, fn))
    return out


def awq_params(params):
    """q4f16_autoawq: each non-final Linear becomes its qweight / qzeros / scales, q|k|v and
    gate|up concatenated along axis 1, int32 words stored as uint32."""
    def pack(*arrays):
        arr = np.concatenate(arrays, axis=1) if len(arrays) > 1 else arrays[0]
        return arr.view(np.uint32) if arr.dtype == np.int32 else arr.astype(np.float16)
    out = []
    for mlc, srcs, role, final_fc, fn in params:
        if role == "linear" and not final_fc:
            base = mlc[: -len(".weight")]
            for suffix in ("qweight", "qzeros", "scales"):
                sources = [s[: -len(".weight")] + "." + suffix for s in srcs]
                out.append((f"{base}.{suffix}", sources, "awq", False, pack))
        else:
            out.append((mlc, srcs, role, final_fc, fn))
    return out


def model_params(cfg, scheme, shards=1, shapes=None):
    """The model type's mapping, as the scheme changes it; `shapes` ({source name: shape}) is
    needed by the block-scale schemes."""
    params, unused, strategies = arch_oracle.PARAMS[cfg["model_type"]](cfg, shards)
    kind = SCHEMES[scheme][0]
    if kind == "block-scale":
        params = block_scale(params, cfg, scheme.endswith("static_activation"), shapes)
    elif kind == "awq":
        params = awq_params(params)
    return params, unused, strategies


def shard_split(arr, dim, segs, n):
    """ShardSingleDim: shard i = concat over segments j of [i*segs[j], (i+1)*segs[j]) of segment j."""
    if segs is None:
        segs = [arr.shape[dim] // n]
    out = []
    for i in range(n):
        pieces, start = [], 0
        for seg in segs:
            pieces.append(np.take(arr, range(start + i * seg, start + (i + 1) * seg), axis=dim))
            start += seg * n
        out.append(np.concatenate(pieces, axis=dim))
    return out


def loading_order(params, wmap):
    path_to_names = {}
    for name, path in wmap.items():
        path_to_names.setdefault(path, []).append(name)
    src_to_mlc = {}
    for mlc, srcs, *_ in params:
        for s in srcs:
            src_to_mlc.setdefault(s, []).append(mlc)
    order, seen = [], set()
    for path, names in path_to_names.items():
        for n in names:
            for mlc in src_to_mlc.get(n, []):
                if mlc not in seen:
                    seen.add(mlc)
                    order.append(mlc)
    return order


# ---------------------------------------------------------------- quantization


def round_mode_fn(mode):
    if mode == "ties-even":
        return np.rint
    return lambda x: np.sign(x) * np.floor(np.abs(x.astype(np.float64)) + 0.5)


def group_quantize(w, bits, gs, dtype, rounded_scale, mode):
    """w: [..., K] in the model dtype. Returns (q_weight uint32 [..., words], scale)."""
    k = w.shape[-1]
    groups = -(-k // gs)
    epw = 32 // bits
    max_int = (1 << (bits - 1)) - 1
    pad = groups * gs - k
    lead = w.shape[:-1]
    with np.errstate(all="ignore"):
        if dtype == "float16":
            wf = w.astype(np.float16)
            absw = np.abs(wf)
            padded = np.concatenate([absw, np.zeros(lead + (pad,), np.float16)], axis=-1)
            max_abs = padded.reshape(lead + (groups, gs)).max(axis=-1)
            scale = (max_abs / np.float16(max_int)).astype(np.float16)  # one f16-rounded op
            s_rep = np.repeat(scale, gs, axis=-1)[..., :k]
            t = (wf / s_rep).astype(np.float16)
            u = (t + np.float16(max_int)).astype(np.float16)
            stored = scale
        else:
            wf = w.astype(np.float32)
            absw = np.abs(wf)
            padded = np.concatenate([absw, np.zeros(lead + (pad,), np.float32)], axis=-1)
            max_abs = padded.reshape(lead + (groups, gs)).max(axis=-1)
            raw = (max_abs / np.float32(max_int)).astype(np.float32)
            stored = raw.astype(NP_DTYPE[dtype])  # RNE, as TVM stores a bf16 buffer
            s = stored.astype(np.float32) if rounded_scale else raw
            s_rep = np.repeat(s, gs, axis=-1)[..., :k]
            t = (wf / s_rep).astype(np.float32)
            u = (t + np.float32(max_int)).astype(np.float32)
        r = round_mode_fn(mode)(u.astype(np.float64))
        r = np.where(r > 0, r, 0.0)  # select semantics: NaN -> 0
        r = np.where(r < 2 * max_int, r, 2 * max_int)
    codes = np.zeros(lead + (groups * gs,), np.uint32)
    codes[..., :k] = r.astype(np.uint32)
    codes = codes.reshape(lead + (groups * gs // epw, epw))
    shifts = (np.arange(epw, dtype=np.uint32) * bits).astype(np.uint32)
    q = np.bitwise_or.reduce(codes << shifts, axis=-1).astype(np.uint32)
    return q, stored


FP8_FORMATS = {"e4m3": (3, 7, ml_dtypes.float8_e4m3fn), "e5m2": (2, 15, ml_dtypes.float8_e5m2)}


def fp8_codes(x, fmt, device="cpu"):
    """float32 -> FP8 codes (uint8) as MLC writes them on `device` (docs/mlc-format.md#per-tensor-fp8).
    A GPU casts to nearest even with subnormals (ml_dtypes). TVM's CPU lowering rounds the
    significand to the FP8 mantissa width first (nearest even, a carry moving into the exponent);
    a biased exponent >= 1 is the normal encoding, 0 gives sign | rounded fraction bits (the
    implicit 1 dropped), below 0 gives +0 (the sign dropped, -0.0 included)."""
    mbits, bias, target = FP8_FORMATS[fmt]
    x = np.asarray(x, np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        codes = x.astype(target).view(np.uint8).copy()
        if device.split(":")[0] in ("cpu", "llvm", "auto"):
            a = np.abs(x.astype(np.float64))
            finite = np.isfinite(a) & (a > 0)
            frac, exp = np.frexp(np.where(finite, a, 1.0))  # a = frac * 2**exp, frac in [0.5, 1)
            rounded = np.rint((frac * 2.0 - 1.0) * (1 << mbits))  # rint: nearest even
            carry = rounded == (1 << mbits)
            rounded = np.where(carry, 0, rounded).astype(np.uint8)
            biased = exp - 1 + bias + carry.astype(np.int64)
            sign = np.where(np.signbit(x), 0x80, 0x00).astype(np.uint8)
            codes = np.where(finite & (biased == 0), sign | rounded, codes)
            codes = np.where((finite & (biased < 0)) | (x == 0), 0, codes).astype(np.uint8)
    return codes


def per_tensor_quantize(name, w, fp8, use_scale, inference, device="cpu"):
    """The scale in float16 arithmetic, the codes from a float32 division, cast to FP8 as
    `device` casts (docs/mlc-format.md#per-tensor-fp8)."""
    target = FP8_FORMATS[fp8][2]
    base = name[: -len(".weight")]
    if not use_scale:
        return [(base + ".q_weight", fp8_codes(w.astype(np.float32), fp8, device).view(target))]
    max_fp8 = np.float16(448.0)
    scale16 = (np.abs(w).max() / max_fp8).astype(np.float16)
    floor = np.float16(1.0 / (448.0 * 512.0))
    scale = np.float32(scale16 if scale16 > floor else floor)
    out = [(base + ".q_weight", fp8_codes(w.astype(np.float32) / scale, fp8, device).view(target)),
           (base + ".q_scale", np.array([scale], np.float32))]
    if inference:
        out.append((base + ".q_calibration_scale", np.zeros(1, np.float32)))
    return out


def quantize_param(name, role, final_fc, arr, scheme, mode, device="cpu"):
    kind, bits, gs, dtype, layout, q_emb, q_fc = SCHEMES[scheme]
    if role == "linear" and is_moe_gate(name, arr.shape[0]):
        role = "other"
    if role == "experts" and kind == "group-quant":  # [E, out, in]: axis -1, never transposed
        q, s = group_quantize(arr, bits, gs, dtype, True, mode)
        base = name[: -len(".weight")]
        return [(base + ".q_weight", q), (base + ".q_scale", s)]
    if kind in ("no-quant", "awq"):
        return [(name, arr)]
    if kind == "per-tensor":  # Linear, and MixtralExperts with one scale over all experts
        if (role == "linear" and not final_fc) or role == "experts":
            return per_tensor_quantize(name, arr, bits, gs, layout, device)  # fp8, use_scale, inference
        return [(name, arr)]
    quantize = (role == "linear" and (not final_fc or q_fc)) or (role == "embedding" and q_emb)
    if not quantize:
        return [(name, arr)]
    transpose = layout == "KN" and role == "linear"
    rounded = not (transpose and dtype == "bfloat16")
    q, s = group_quantize(arr, bits, gs, dtype, rounded, mode)
    if transpose:
        q, s = q.T.copy(), s.T.copy()
    base = name[: -len(".weight")]
    return [(base + ".q_weight", q), (base + ".q_scale", s)]


# ---------------------------------------------------------------- tensor cache

TVM_DTYPE = {np.dtype(np.float16): "float16", np.dtype(np.float32): "float32",
             np.dtype(ml_dtypes.bfloat16): "bfloat16", np.dtype(np.uint32): "uint32",
             np.dtype(ml_dtypes.float8_e4m3fn): "float8_e4m3fn",
             np.dtype(ml_dtypes.float8_e5m2): "float8_e5m2"}


def f32_to_bf16_bytes(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    lim = np.frombuffer(struct.pack("<I", 0x7F7F0000), np.float32)[0]
    f = a.astype(np.float32)
    inside = (f > -lim) & (f < lim)
    rne = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    out = np.where(inside, rne, u >> 16).astype(np.uint16)
    return out.tobytes()


def dump_cache(records, out_dir, metadata):
    """tvmjs.dump_tensor_cache with encode_format f32-to-bf16 and a 32 MiB cap."""
    cap = 32 * 1024 * 1024
    shards, pending, pending_recs, counter = [], bytearray(), [], 0
    os.makedirs(out_dir, exist_ok=True)

    def commit(data, recs):
        nonlocal counter
        path = f"params_shard_{counter}.bin"
        counter += 1
        with open(os.path.join(out_dir, path), "wb") as f:
            f.write(data)
        shards.append({"dataPath": path, "format": "raw-shard", "nbytes": len(data), "records": recs,
                       "md5sum": hashlib.md5(data).hexdigest()})

    has_f32 = False
    for name, arr in records:
        dtype = TVM_DTYPE[arr.dtype]
        data = f32_to_bf16_bytes(arr) if dtype == "float32" else np.ascontiguousarray(arr).tobytes()
        has_f32 |= dtype == "float32"
        rec = {"name": name, "shape": list(arr.shape), "dtype": dtype, "format": "f32-to-bf16", "nbytes": len(data)}
        if len(pending) + len(data) >= cap:
            if 2 * len(data) >= cap:
                rec["byteOffset"] = 0
                commit(bytes(data), [rec])
                continue
            if len(pending):
                commit(bytes(pending), pending_recs)
                pending, pending_recs = bytearray(), []
        rec["byteOffset"] = len(pending)
        pending_recs.append(rec)
        pending += data
    if len(pending):
        commit(bytes(pending), pending_recs)
    manifest = {"metadata": metadata, "records": shards}
    with open(os.path.join(out_dir, "tensor-cache.json"), "w") as f:
        json.dump(manifest, f, indent=4)
    if has_f32:
        for shard in manifest["records"]:
            for rec in shard["records"]:
                if rec["dtype"] == "float32":
                    rec["dtype"], rec["format"] = "bfloat16", "raw"
        with open(os.path.join(out_dir, "tensor-cache-b16.json"), "w") as f:
            json.dump(manifest, f, indent=4)


# ---------------------------------------------------------------- the conversion


def walk_sources(wmap, files, params, unused):
    """[(mlc name, source arrays, role, final_fc, map fn)] in loading order, and MLC's
    total_param_num: every tensor of each file each time MLC loads it, except the declared-unused
    ones (docs/mlc-format.md)."""
    by_name = {p[0]: p for p in params}
    total_params, loaded, items = 0, set(), []
    for mlc in loading_order(params, wmap):
        _, srcs, role, final_fc, fn = by_name[mlc]
        required = {wmap[s] for s in srcs}
        if not required <= loaded:
            loaded &= required
            for path in required - loaded:
                total_params += sum(a.size for n, a in files[path].items() if n not in unused)
                loaded.add(path)
        items.append((mlc, [files[wmap[s]][s] for s in srcs], role, final_fc, fn))
    return items, total_params


def finish(records, total_params, out_dir):
    total_bytes = 0.0
    for _, a in records:
        total_bytes += a.size * a.dtype.itemsize
    metadata = {"ParamSize": len(records), "ParamBytes": total_bytes, "BitsPerParam": total_bytes * 8.0 / total_params}
    dump_cache(records, out_dir, metadata)


def convert(source_dir, scheme, out_dir, mode="ties-even", shards=1, table=None, device="cpu"):
    """Returns ({mlc record name: array as written (before the f32->bf16 encoding)}, MLC's
    total_param_num); appends the `--dry-run` table rows (name, shape, dtype, sources) to
    `table` when given."""
    with open(os.path.join(source_dir, "config.json")) as f:
        cfg = json.load(f)
    model_dtype = SCHEMES[scheme][3]
    wmap, files = read_sources(source_dir)
    shapes = {name: a.shape for arrays in files.values() for name, a in arrays.items()}
    params, unused, strategies = model_params(cfg, scheme, shards, shapes)
    records = []
    items, total_params = walk_sources(wmap, files, params, unused)
    for mlc, arrays, role, final_fc, fn in items:
        if getattr(fn, "in_model_dtype", False):  # the fn casts to the model dtype itself (RWKV)
            arr = fn(*arrays, dtype=NP_DTYPE[model_dtype])
        elif fn is not None:
            arr = fn(*arrays)
        else:
            arr = np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]
        target = KEPT_DTYPE.get(role, NP_DTYPE[model_dtype])
        if target is not None:
            with np.errstate(over="ignore"):
                arr = arr.astype(target)
        if role in KEPT_DTYPE:
            outs = [(mlc, arr)]
        else:
            outs = quantize_param(mlc, role, final_fc, arr, scheme, mode, device)
        if shards > 1 and mlc in strategies:
            outs = shard_records(outs, strategies[mlc], scheme, shards)
        records.extend(outs)
        if table is not None:
            srcs = next(p[1] for p in params if p[0] == mlc)
            table.extend({"name": n, "shape": list(a.shape), "dtype": TVM_DTYPE[a.dtype], "sources": list(srcs)}
                         for n, a in outs)
    finish(records, total_params, out_dir)
    return dict(records), total_params


def shard_records(outs, strategy, scheme, shards):
    dim, segs = strategy
    sharded = []
    for name, a in outs:
        if SCHEMES[scheme][0] == "per-tensor" and name.endswith(("q_scale", "q_calibration_scale")):
            sharded.append((name, a))  # one number for all shards, stored once (docs/mlc-format.md)
        else:
            sharded.extend((f"{name}_shard-{i}", piece) for i, piece in enumerate(shard_split(a, dim, segs, shards)))
    return sharded
