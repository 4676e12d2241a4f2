#!/usr/bin/env python3
"""Generates the tiny Llama checkpoints used by the README demo and the tests.

Deterministic (seeded), written with the `safetensors` package, no network. The sizes are odd on
purpose: hidden 72 and intermediate 100 are not multiples of the group sizes 32 and 40, so every
scheme has partial last groups. Rows are planted with exact rounding ties, all-zero groups and a
value that overflows float16.

    python3 scripts/make_fixtures.py examples/tiny-llama           # the bundled demo model
    python3 scripts/make_fixtures.py OUT --variant f32-tied-sharded
"""
import argparse
import json
import os

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

VARIANTS = {
    # name: (source dtype, tied embeddings, sharded with an index, explicit head_dim)
    "bf16-untied": ("bfloat16", False, False, None),
    "f32-tied-sharded": ("float32", True, True, 16),
    "f16-untied-sharded": ("float16", False, True, None),
    # Sizes that split over 2 and 4 tensor-parallel shards with whole quantization groups.
    "bf16-tp": ("bfloat16", False, False, None),
}
SIZES = {"bf16-tp": dict(hidden=128, inter=256, heads=8, kv_heads=4)}


def config_for(tied, head_dim, layers=2, hidden=72, inter=100, heads=6, kv_heads=2, vocab=37):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "num_hidden_layers": layers,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab,
        "max_position_embeddings": 256,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "torch_dtype": "bfloat16",
    }
    if head_dim is not None:
        cfg["head_dim"] = head_dim
    return cfg


def plant_special_rows(w, rng):
    """Rows whose quantization hits ties, zero groups and partial groups."""
    rows, k = w.shape
    if rows < 4:
        return w
    # max |w| = 7 gives scale 1 for int4: half-integers land exactly on .5 after + 7.
    w[0, :] = rng.choice([0.5, 1.5, 2.5, -0.5, -1.5, -3.5, 6.5], size=k)
    w[0, 0] = 7.0
    w[1, :] = 0.0  # all-zero groups
    w[2, : min(k, 40)] = 0.0  # one zero group for both group sizes, the rest random
    # int3 (max 3): a row scaled so w/scale + 3 hits ties too.
    w[3, :] = rng.choice([0.5, -0.5, 1.5, -2.5], size=k)
    w[3, 0] = 3.0
    return w


def make_tensors(cfg, seed=0, rotary=False, extra_lm_head=False):
    rng = np.random.default_rng(seed)
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", h // heads)
    v = cfg["vocab_size"]

    def mat(rows, cols, scale=0.05):
        return plant_special_rows((rng.standard_normal((rows, cols)) * scale).astype(np.float32), rng)

    t = {"model.embed_tokens.weight": mat(v, h, 1.0)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = mat(heads * d, h)
        t[p + "self_attn.k_proj.weight"] = mat(kv * d, h)
        t[p + "self_attn.v_proj.weight"] = mat(kv * d, h)
        t[p + "self_attn.o_proj.weight"] = mat(h, heads * d)
        t[p + "mlp.gate_proj.weight"] = mat(inter, h)
        t[p + "mlp.up_proj.weight"] = mat(inter, h)
        t[p + "mlp.down_proj.weight"] = mat(h, inter)
        t[p + "input_layernorm.weight"] = (1 + rng.standard_normal(h) * 0.1).astype(np.float32)
        t[p + "post_attention_layernorm.weight"] = (1 + rng.standard_normal(h) * 0.1).astype(np.float32)
        if rotary:
            t[p + "self_attn.rotary_emb.inv_freq"] = (1.0 / 10000 ** (np.arange(0, d, 2) / d)).astype(np.float32)
    norm = (1 + rng.standard_normal(h) * 0.1).astype(np.float32)
    norm[0] = 70000.0  # beyond float16: becomes inf under q*f16
    t["model.norm.weight"] = norm
    if not cfg["tie_word_embeddings"] or extra_lm_head:
        t["lm_head.weight"] = mat(v, h)
    return t


def cast_all(tensors, dtype):
    np_dtype = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    with np.errstate(over="ignore"):  # the planted 70000 overflows float16 on purpose
        return {k: v.astype(np_dtype) for k, v in tensors.items()}


def write_checkpoint(out_dir, cfg, tensors, sharded):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if not sharded:
        save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    # Like transformers' save_pretrained: shards by insertion order, index keys sorted.
    names = list(tensors)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for fname, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = fname
    total = sum(t.nbytes for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=False)


def make_variant(out_dir, variant, **cfg_overrides):
    dtype, tied, sharded, head_dim = VARIANTS[variant]
    cfg = config_for(tied, head_dim, **{**SIZES.get(variant, {}), **cfg_overrides})
    tensors = make_tensors(cfg, seed=sum(map(ord, variant)), rotary=sharded, extra_lm_head=tied)
    write_checkpoint(out_dir, cfg, cast_all(tensors, dtype), sharded)
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--variant", default="bf16-untied", choices=sorted(VARIANTS))
    args = ap.parse_args()
    make_variant(args.out_dir, args.variant)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------- large synthetic checkpoints

SHAPES = {
    # name: (vocab, hidden, layers, intermediate, heads, kv heads)
    "tinyllama": (32000, 2048, 22, 5632, 32, 4),
    "llama2-7b": (32000, 4096, 32, 11008, 32, 32),
}


def llama_tensor_shapes(cfg):
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = h // heads
    v = cfg["vocab_size"]
    shapes = {"model.embed_tokens.weight": (v, h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "self_attn.q_proj.weight": (heads * d, h),
            p + "self_attn.k_proj.weight": (kv * d, h),
            p + "self_attn.v_proj.weight": (kv * d, h),
            p + "self_attn.o_proj.weight": (h, heads * d),
            p + "mlp.gate_proj.weight": (inter, h),
            p + "mlp.up_proj.weight": (inter, h),
            p + "mlp.down_proj.weight": (h, inter),
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
        })
    shapes["model.norm.weight"] = (h,)
    shapes["lm_head.weight"] = (v, h)
    return shapes


def write_synthetic(out_dir, shape_name=None, cfg=None, fill="random", seed=0):
    """A bf16 single-file safetensors checkpoint with real Llama shapes, written tensor by tensor
    so memory stays small. fill="zeros" leaves the data as a sparse hole (instant, for tests that
    only need size); "random" writes N(0, 0.02) values from a seeded generator."""
    if cfg is None:
        v, h, layers, inter, heads, kv = SHAPES[shape_name]
        cfg = config_for(False, None, layers=layers, hidden=h, inter=inter, heads=heads, kv_heads=kv, vocab=v)
        cfg["max_position_embeddings"] = 2048
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shapes = llama_tensor_shapes(cfg)
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        if fill == "zeros":
            f.truncate(8 + len(text) + offset)
            return cfg
        for name, shape in shapes.items():
            rows = shape[0]
            step = max(1, (1 << 24) // (int(np.prod(shape[1:])) or 1))
            for r in range(0, rows, step):
                block = rng.standard_normal((min(step, rows - r),) + tuple(shape[1:]), dtype=np.float32) * 0.02
                f.write((block.view(np.uint32) >> 16).astype(np.uint16).tobytes())
    return cfg


# ---------------------------------------------------------------- AutoAWQ exports

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # AutoAWQ packs column order[i] of each 8 into nibble i


def awq_quantize(w, group=128):
    """AutoAWQ's zero-point 4-bit quantization of w [out, in] along in, groups of `group`.
    Returns the codes [out, in], zeros and float16 scales [out, in/group]."""
    out_f, in_f = w.shape
    g = w.reshape(out_f, in_f // group, group)
    mx, mn = g.max(axis=-1), g.min(axis=-1)
    scales = (np.maximum(mx - mn, 1e-5) / 15).astype(np.float16)
    s = scales.astype(np.float32)
    zeros = np.clip(-np.round(mn / s), 0, 15)
    q = np.clip(np.round(g / s[..., None]) + zeros[..., None], 0, 15).astype(np.uint32)
    return q.reshape(out_f, in_f), zeros.astype(np.uint32), scales


def awq_pack(intweight):
    """[rows, cols] codes -> [rows, cols/8] int32 with AutoAWQ's interleaved nibble order."""
    rows, cols = intweight.shape
    packed = np.zeros((rows, cols // 8), np.uint32)
    for i, col in enumerate(AWQ_ORDER):
        packed |= intweight[:, col::8].astype(np.uint32) << np.uint32(4 * i)
    return packed.view(np.int32)


def make_awq(out_dir, group=128, seed=5):
    """A tiny Llama exported the way AutoAWQ writes it. Returns the float weights it quantized."""
    cfg = config_for(False, None, hidden=128, inter=256, heads=8, kv_heads=4)
    cfg["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": group, "zero_point": True}
    floats = make_tensors(cfg, seed=seed)
    tensors = {}
    for name, w in floats.items():
        if name.endswith("_proj.weight"):
            q, zeros, scales = awq_quantize(w, group)
            base = name[: -len(".weight")]
            tensors[base + ".qweight"] = awq_pack(np.ascontiguousarray(q.T))
            tensors[base + ".qzeros"] = awq_pack(np.ascontiguousarray(zeros.T))
            tensors[base + ".scales"] = np.ascontiguousarray(scales.T)
        else:
            with np.errstate(over="ignore"):
                tensors[name] = w.astype(np.float16)
    write_checkpoint(out_dir, cfg, tensors, sharded=False)
    return floats


# ---------------------------------------------------------------- Qwen3 (bf16 and FP8 blocks)

def qwen3_config(bias, tied, fp8_blocks=None):
    cfg = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_act": "silu",
           "hidden_size": 64, "intermediate_size": 96, "attention_bias": bias, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "num_hidden_layers": 2, "rms_norm_eps": 1e-6,
           "rope_theta": 1000000, "vocab_size": 40, "max_position_embeddings": 512,
           "tie_word_embeddings": tied}
    if fp8_blocks:
        cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                      "weight_block_size": list(fp8_blocks)}
    return cfg


def make_qwen3(out_dir, bias=True, tied=False, fp8_blocks=None, static_activation=False, seed=21, drop=()):
    """A tiny Qwen3 with HF names; with fp8_blocks its linear weights are float8_e4m3fn with
    weight_scale_inv blocks, as Qwen3-FP8 checkpoints ship them."""
    cfg = qwen3_config(bias, tied, fp8_blocks)
    rng = np.random.default_rng(seed)
    h, i, d = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    nq, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    t = {"model.embed_tokens.weight": rng.standard_normal((cfg["vocab_size"], h)).astype(np.float32)}
    linears = []
    for layer in range(cfg["num_hidden_layers"]):
        a, m = f"model.layers.{layer}.self_attn.", f"model.layers.{layer}.mlp."
        for name, shape in [(a + "q_proj", (nq * d, h)), (a + "k_proj", (nkv * d, h)), (a + "v_proj", (nkv * d, h)),
                            (a + "o_proj", (h, nq * d)), (m + "gate_proj", (i, h)), (m + "up_proj", (i, h)),
                            (m + "down_proj", (h, i))]:
            t[name + ".weight"] = plant_special_rows((rng.standard_normal(shape) * 0.05).astype(np.float32), rng)
            linears.append(name)
            if bias and name.endswith(("q_proj", "k_proj", "v_proj", "o_proj")):
                t[name + ".bias"] = (rng.standard_normal(shape[0]) * 0.1).astype(np.float32)
        t[a + "q_norm.weight"] = (1 + rng.standard_normal(d) * 0.1).astype(np.float32)
        t[a + "k_norm.weight"] = (1 + rng.standard_normal(d) * 0.1).astype(np.float32)
        t[f"model.layers.{layer}.input_layernorm.weight"] = (1 + rng.standard_normal(h) * 0.1).astype(np.float32)
        t[f"model.layers.{layer}.post_attention_layernorm.weight"] = (1 + rng.standard_normal(h) * 0.1).astype(np.float32)
        if static_activation:
            for fused, k in [(a + "c_attn", h), (a + "o_proj", nq * d), (m + "gate_up_proj", h), (m + "down_proj", i)]:
                t[fused + ".activation_scale"] = rng.random(-(-k // fp8_blocks[1])).astype(np.float32)
    t["model.norm.weight"] = (1 + rng.standard_normal(h) * 0.1).astype(np.float32)
    if not tied:
        t["lm_head.weight"] = (rng.standard_normal((cfg["vocab_size"], h)) * 0.05).astype(np.float32)
    out = {}
    for name, a in t.items():
        base = name[: -len(".weight")]
        if fp8_blocks and base in linears:
            b0, b1 = fp8_blocks
            rows, cols = -(-a.shape[0] // b0), -(-a.shape[1] // b1)
            out[name] = np.clip(a * 40, -448, 448).astype(ml_dtypes.float8_e4m3fn)
            out[name + "_scale_inv"] = (rng.random((rows, cols)) * 0.01 + 1e-3).astype(np.float32)
        elif name.endswith("activation_scale"):
            out[name] = a
        else:
            out[name] = a.astype(ml_dtypes.bfloat16)
    for name in drop:  # for tests of damaged checkpoints
        del out[name]
    write_checkpoint(out_dir, cfg, out, sharded=False)
    return cfg
