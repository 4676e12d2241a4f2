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

import numpy as np

from hf_checkpoint import cast_all, decoder, random_tensor, write_bf16_streamed, write_checkpoint

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


def make_tensors(cfg, seed=0, rotary=False, extra_lm_head=False):
    """float32 Llama tensors: every matrix (the embedding N(0, 1)) with planted special rows, and
    a final norm value that overflows float16."""
    rng = np.random.default_rng(seed)
    layout = decoder(cfg, rotary=rotary, tied=cfg["tie_word_embeddings"] and not extra_lm_head)
    t = {name: random_tensor(name, shape, rng, planted=True, embed_scale=1.0).astype(np.float32)
         for name, shape in layout.items()}
    t["model.norm.weight"][0] = 70000.0  # beyond float16: becomes inf under q*f16
    return t


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


def write_synthetic(out_dir, shape_name=None, cfg=None, fill="random", seed=0):
    """A bf16 single-file checkpoint with real Llama shapes, written tensor by tensor (see
    hf_checkpoint.write_bf16_streamed for `fill`)."""
    if cfg is None:
        v, h, layers, inter, heads, kv = SHAPES[shape_name]
        cfg = config_for(False, None, layers=layers, hidden=h, inter=inter, heads=heads, kv_heads=kv, vocab=v)
        cfg["max_position_embeddings"] = 2048
    write_bf16_streamed(out_dir, cfg, decoder(cfg, tied=False), fill=fill, seed=seed)
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
