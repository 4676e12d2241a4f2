"""An independent reimplementation of `mlc_llm convert_weight` for Llama, in numpy.

Written from ../shared/spec/mlc-convert-weight.md alone, sharing no code with the C++ converter:
its own safetensors parsing, loading order, casts (numpy / ml_dtypes), group quantization in
numpy's per-op float16 arithmetic, tvmjs shard packing, md5 via hashlib and the manifest via
Python's own json.dump. The tests compare weightcast's bytes against what this writes.
"""
import hashlib
import json
import os
import struct

import ml_dtypes
import numpy as np

ST_DTYPES = {
    "F16": np.float16, "BF16": ml_dtypes.bfloat16, "F32": np.float32, "F64": np.float64,
    "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
    "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
    "F8_E4M3": ml_dtypes.float8_e4m3fn,
}

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
}

# The schemes that apply to any bf16/f16/f32 checkpoint (block-scale needs FP8 weights).
DENSE_SCHEMES = [name for name, spec in SCHEMES.items() if spec[0] != "block-scale"]
# What MLC can check bit for bit today: FP8 rounding on TVM's CPU path is not verified (spec 5.4).
EXACT_SCHEMES = [name for name, spec in SCHEMES.items() if spec[0] not in ("block-scale", "per-tensor")]

NP_DTYPE = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}


# ---------------------------------------------------------------- source reading


def read_safetensors(path):
    """(ordered list of names by data offset, dict name -> array)"""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    arrays = {}
    for name, d in header.items():
        b, e = d["data_offsets"]
        arrays[name] = np.frombuffer(raw[base + b : base + e], dtype=ST_DTYPES[d["dtype"]]).reshape(d["shape"])
    order = sorted(header, key=lambda k: tuple(header[k]["data_offsets"]))
    return order, arrays


def weight_map(source_dir):
    """MLC's torch_to_path: name -> file, in weight-map order."""
    index = os.path.join(source_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return {k: os.path.join(source_dir, v) for k, v in json.load(f)["weight_map"].items()}
    single = os.path.join(source_dir, "model.safetensors")
    order, _ = read_safetensors(single)
    return {k: single for k in order}


# ---------------------------------------------------------------- the Llama mapping


def llama_params(cfg, shards=1):
    """[(mlc name, [sources], role, final_fc)] and the declared-unused names; with shards > 1
    also {mlc name: (dim, per-shard segments)} for the tensor-parallel split (spec 4.2, 6)."""
    heads = cfg["num_attention_heads"]
    d = cfg.get("head_dim", cfg["hidden_size"] // heads)
    kv = cfg.get("num_key_value_heads", heads)
    q_rows, kv_rows, inter = heads // shards * d, kv // shards * d, cfg["intermediate_size"] // shards
    params, unused = [("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding", False)], []
    strategies = {}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        params.append((p + "self_attn.qkv_proj.weight", [p + f"self_attn.{x}_proj.weight" for x in "qkv"], "linear", False))
        params.append((p + "self_attn.o_proj.weight", [p + "self_attn.o_proj.weight"], "linear", False))
        params.append((p + "mlp.gate_up_proj.weight", [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"], "linear", False))
        params.append((p + "mlp.down_proj.weight", [p + "mlp.down_proj.weight"], "linear", False))
        strategies[p + "self_attn.qkv_proj.weight"] = (0, [q_rows, kv_rows, kv_rows])
        strategies[p + "self_attn.o_proj.weight"] = (1, None)
        strategies[p + "mlp.gate_up_proj.weight"] = (0, [inter, inter])
        strategies[p + "mlp.down_proj.weight"] = (1, None)
        params.append((p + "input_layernorm.weight", [p + "input_layernorm.weight"], "other", False))
        params.append((p + "post_attention_layernorm.weight", [p + "post_attention_layernorm.weight"], "other", False))
        unused.append(p + "self_attn.rotary_emb.inv_freq")
    params.append(("model.norm.weight", ["model.norm.weight"], "other", False))
    if not cfg.get("tie_word_embeddings", False):
        params.append(("lm_head.weight", ["lm_head.weight"], "linear", True))
    return params, set(unused), strategies


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


def qwen3_params(cfg, scheme):
    """Qwen3 (qwen3_loader.py): fused c_attn (+bias), q_norm/k_norm; block-scale schemes keep the
    FP8 weights and add their weight_scale_inv (and activation_scale)."""
    block = SCHEMES[scheme][0] == "block-scale"
    static = scheme.endswith("static_activation")
    params = [("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding", False)]
    for i in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{i}.self_attn.", f"model.layers.{i}.mlp.", f"model.layers.{i}."
        linear = [(a + "c_attn", [a + f"{x}_proj" for x in "qkv"]), (a + "o_proj", [a + "o_proj"]),
                  (m + "gate_up_proj", [m + "gate_proj", m + "up_proj"]), (m + "down_proj", [m + "down_proj"])]
        for name, srcs in linear:
            if block:
                params.append((name + ".weight", [s + ".weight" for s in srcs], "fp8", False))
                params.append((name + ".weight_scale_inv", [s + ".weight_scale_inv" for s in srcs], "f32", False))
                if static:
                    params.append((name + ".activation_scale", [name + ".activation_scale"], "f32", False))
            else:
                params.append((name + ".weight", [s + ".weight" for s in srcs], "linear", False))
            if cfg["attention_bias"] and name.endswith(("c_attn", "o_proj")):
                params.append((name + ".bias", [s + ".bias" for s in srcs], "other", False))
        for n in ("self_attn.q_norm", "self_attn.k_norm", "input_layernorm", "post_attention_layernorm"):
            params.append((l + n + ".weight", [l + n + ".weight"], "other", False))
    params.append(("model.norm.weight", ["model.norm.weight"], "other", False))
    if not cfg.get("tie_word_embeddings", False):
        params.append(("lm_head.weight", ["lm_head.weight"], "linear", True))
    return params, set(), {}


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


def per_tensor_quantize(name, w, fp8, use_scale, inference):
    """Spec 5.4: the scale in float16 arithmetic, the codes from a float32 division, RNE to FP8."""
    target = ml_dtypes.float8_e4m3fn if fp8 == "e4m3" else ml_dtypes.float8_e5m2
    base = name[: -len(".weight")]
    if not use_scale:
        return [(base + ".q_weight", w.astype(np.float32).astype(target))]
    max_fp8 = np.float16(448.0)
    scale16 = (np.abs(w).max() / max_fp8).astype(np.float16)
    floor = np.float16(1.0 / (448.0 * 512.0))
    scale = np.float32(scale16 if scale16 > floor else floor)
    out = [(base + ".q_weight", (w.astype(np.float32) / scale).astype(target)),
           (base + ".q_scale", np.array([scale], np.float32))]
    if inference:
        out.append((base + ".q_calibration_scale", np.zeros(1, np.float32)))
    return out


def is_moe_gate(name, arr):
    """A Linear module named "...gate" with at most 256 outputs (spec 5.2.2)."""
    return name[: -len(".weight")].endswith("gate") and arr.shape[0] <= 256


def quantize_param(name, role, final_fc, arr, scheme, mode):
    kind, bits, gs, dtype, layout, q_emb, q_fc = SCHEMES[scheme]
    if role == "linear" and is_moe_gate(name, arr):
        role = "other"
    if role == "experts" and kind == "group-quant":  # [E, out, in]: axis -1, never transposed
        q, s = group_quantize(arr, bits, gs, dtype, True, mode)
        base = name[: -len(".weight")]
        return [(base + ".q_weight", q), (base + ".q_scale", s)]
    if kind == "no-quant":
        return [(name, arr)]
    if kind == "per-tensor":  # Linear, and MixtralExperts with one scale over all experts
        if (role == "linear" and not final_fc) or role == "experts":
            return per_tensor_quantize(name, arr, bits, gs, layout)  # fp8, use_scale, inference
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


def walk_sources(source_dir, params, unused):
    """[(mlc name, source arrays, role, final_fc)] in loading order, and MLC's total_param_num:
    every tensor of each file each time MLC loads it, except the declared-unused ones (spec 3.5)."""
    by_name = {p[0]: p for p in params}
    wmap = weight_map(source_dir)
    files = {path: read_safetensors(path)[1] for path in dict.fromkeys(wmap.values())}
    total_params, loaded, items = 0, set(), []
    for mlc in loading_order(params, wmap):
        _, srcs, role, final_fc, *fn = by_name[mlc]
        required = {wmap[s] for s in srcs}
        if not required <= loaded:
            loaded &= required
            for path in required - loaded:
                total_params += sum(a.size for n, a in files[path].items() if n not in unused)
                loaded.add(path)
        items.append((mlc, [files[wmap[s]][s] for s in srcs], role, final_fc, fn[0] if fn else None))
    return items, total_params


def finish(records, total_params, out_dir):
    total_bytes = 0.0
    for _, a in records:
        total_bytes += a.size * a.dtype.itemsize
    metadata = {"ParamSize": len(records), "ParamBytes": total_bytes, "BitsPerParam": total_bytes * 8.0 / total_params}
    dump_cache(records, out_dir, metadata)


def model_params(cfg, scheme, shards=1):
    import arch_oracle
    if cfg["model_type"] == "qwen3":
        return qwen3_params(cfg, scheme)
    if cfg["model_type"] == "qwen3-embedding":  # Qwen3's mapping, sources without "model."
        params, unused, strategies = qwen3_params(cfg, scheme)
        strip = lambda s: s[len("model."):] if s.startswith("model.") else s  # noqa: E731
        return [(p[0], [strip(s) for s in p[1]], *p[2:]) for p in params], unused, strategies
    if cfg["model_type"] in arch_oracle.PARAMS:
        params, unused, strategies = arch_oracle.PARAMS[cfg["model_type"]](cfg, shards)
        if SCHEMES[scheme][0] == "block-scale":
            params = arch_oracle.block_scale(params, cfg, scheme.endswith("static_activation"))
        return params, unused, strategies
    return llama_params(cfg, shards)


def convert(source_dir, scheme, out_dir, mode="ties-even", shards=1, table=None):
    """Returns {mlc record name: array as written (before the f32->bf16 encoding)}; appends
    the `--dry-run` table rows (name, shape, dtype, sources) to `table` when given."""
    with open(os.path.join(source_dir, "config.json")) as f:
        cfg = json.load(f)
    model_dtype = SCHEMES[scheme][3]
    params, unused, strategies = model_params(cfg, scheme, shards)
    records = []
    items, total_params = walk_sources(source_dir, params, unused)
    for mlc, arrays, role, final_fc, fn in items:
        if fn is not None:
            arr = fn(*arrays)
        else:
            arr = np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]
        target = {"fp8": ml_dtypes.float8_e4m3fn, "f32": np.float32}.get(role, NP_DTYPE[model_dtype])
        with np.errstate(over="ignore"):
            arr = arr.astype(target)
        if role in ("fp8", "f32"):  # kept in their own dtype by every scheme
            outs = [(mlc, arr)]
        else:
            outs = quantize_param(mlc, role, final_fc, arr, scheme, mode)
        if shards > 1 and mlc in strategies:
            dim, segs = strategies[mlc]
            sharded = []
            for name, a in outs:
                if SCHEMES[scheme][0] == "per-tensor" and name.endswith(("q_scale", "q_calibration_scale")):
                    sharded.append((name, a))  # one number for all shards, stored once (spec 5.4)
                else:
                    sharded.extend((f"{name}_shard-{i}", piece)
                                   for i, piece in enumerate(shard_split(a, dim, segs, shards)))
            outs = sharded
        records.extend(outs)
        if table is not None:
            srcs = next(p[1] for p in params if p[0] == mlc)
            table.extend({"name": n, "shape": list(a.shape), "dtype": TVM_DTYPE[a.dtype], "sources": list(srcs)}
                         for n, a in outs)
    finish(records, total_params, out_dir)
    return dict(records), total_params


# ---------------------------------------------------------------- AWQ (spec 4.4)


def convert_awq(source_dir, out_dir):
    """q4f16_autoawq: qweight/qzeros/scales copied verbatim (q/k/v, gate/up concatenated along
    axis 1), everything else cast to float16."""
    with open(os.path.join(source_dir, "config.json")) as f:
        cfg = json.load(f)
    params, unused, _ = llama_params(cfg)
    awq_params = []
    for mlc, srcs, role, final_fc in params:
        if role == "linear" and not final_fc:
            base = mlc[: -len(".weight")]
            for suffix in ("qweight", "qzeros", "scales"):
                awq_params.append((f"{base}.{suffix}", [s[: -len(".weight")] + "." + suffix for s in srcs], "awq", False))
        else:
            awq_params.append((mlc, srcs, role, final_fc))
    records = []
    items, total_params = walk_sources(source_dir, awq_params, unused)
    for mlc, arrays, role, *_ in items:
        if role == "awq":
            arr = np.concatenate(arrays, axis=1) if len(arrays) > 1 else arrays[0]
            arr = arr.view(np.uint32) if arr.dtype == np.int32 else arr.astype(np.float16)
        else:
            arr = arrays[0].astype(np.float16)
        records.append((mlc, arr))
    finish(records, total_params, out_dir)
