#!/usr/bin/env python3
"""Tiny checkpoints, one per architecture case, with the tensor names and shapes the HF
transformers classes save (bf16, one safetensors file, seeded random values).

    python3 scripts/make_arch_fixtures.py OUT_DIR CASE      # e.g. qwen2-tied
    python3 scripts/make_arch_fixtures.py --list
"""
import argparse
import sys

import ml_dtypes
import numpy as np

from make_fixtures import write_checkpoint

H, I, V = 64, 96, 48  # hidden, intermediate, vocab: small, and whole q4 groups


def base_config(model_type, **extra):
    cfg = {"model_type": model_type, "hidden_size": H, "intermediate_size": I, "num_attention_heads": 4,
           "num_key_value_heads": 2, "num_hidden_layers": 2, "rms_norm_eps": 1e-6, "vocab_size": V,
           "max_position_embeddings": 256, "hidden_act": "silu", "rope_theta": 10000.0}
    cfg.update(extra)
    return cfg


def dims(cfg):
    h = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or h
    d = cfg.get("head_dim") or cfg["hidden_size"] // h
    return h * d, kv * d


def attention(t, prefix, cfg, qkv_bias=False, o_bias=False, names=("q_proj", "k_proj", "v_proj", "o_proj")):
    q, kv = dims(cfg)
    h = cfg["hidden_size"]
    for name, rows in zip(names[:3], (q, kv, kv)):
        t[f"{prefix}{name}.weight"] = (rows, h)
        if qkv_bias:
            t[f"{prefix}{name}.bias"] = (rows,)
    t[f"{prefix}{names[3]}.weight"] = (h, q)
    if o_bias:
        t[f"{prefix}{names[3]}.bias"] = (h,)


def swiglu(t, prefix, hidden, inter, names=("gate_proj", "up_proj", "down_proj")):
    t[f"{prefix}{names[0]}.weight"] = (inter, hidden)
    t[f"{prefix}{names[1]}.weight"] = (inter, hidden)
    t[f"{prefix}{names[2]}.weight"] = (hidden, inter)


def llama_layout(cfg, norms=("input_layernorm", "post_attention_layernorm"), qkv_bias=False, tied=None,
                 mlp=True, qk_norm=False):
    t = {"model.embed_tokens.weight": (cfg["vocab_size"], cfg["hidden_size"])}
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        attention(t, l + "self_attn.", cfg, qkv_bias=qkv_bias)
        if qk_norm:
            _, kv = dims(cfg)
            d = kv // (cfg.get("num_key_value_heads") or cfg["num_attention_heads"])
            t[l + "self_attn.q_norm.weight"] = (d,)
            t[l + "self_attn.k_norm.weight"] = (d,)
        if mlp:
            swiglu(t, l + "mlp.", cfg["hidden_size"], cfg["intermediate_size"])
        for norm in norms:
            t[l + norm + ".weight"] = (cfg["hidden_size"],)
    t["model.norm.weight"] = (cfg["hidden_size"],)
    if not (cfg.get("tie_word_embeddings", False) if tied is None else tied):
        t["lm_head.weight"] = (cfg["vocab_size"], cfg["hidden_size"])
    return t


def experts(t, prefix, count, hidden, inter, names):
    for e in range(count):
        swiglu(t, f"{prefix}{e}.", hidden, inter, names)


# ---------------------------------------------------------------- cases


def qwen2(tied):
    cfg = base_config("qwen2", tie_word_embeddings=tied)
    return cfg, llama_layout(cfg, qkv_bias=True)


def qwen2_moe():
    cfg = base_config("qwen2_moe", moe_intermediate_size=32, shared_expert_intermediate_size=64, num_experts=4,
                      num_experts_per_tok=2, decoder_sparse_step=1, tie_word_embeddings=False)
    t = llama_layout(cfg, qkv_bias=True, mlp=False)
    for n in range(cfg["num_hidden_layers"]):
        m = f"model.layers.{n}.mlp."
        experts(t, m + "experts.", 4, H, 32, ("gate_proj", "up_proj", "down_proj"))
        swiglu(t, m + "shared_expert.", H, 64)
        t[m + "gate.weight"] = (4, H)
        t[m + "shared_expert_gate.weight"] = (1, H)
    return cfg, t


def qwen3_moe(bias):
    cfg = base_config("qwen3_moe", head_dim=16, attention_bias=bias, moe_intermediate_size=32, num_experts=4,
                      num_experts_per_tok=2, decoder_sparse_step=1)
    t = llama_layout(cfg, qkv_bias=bias, mlp=False, qk_norm=True)
    for n in range(cfg["num_hidden_layers"]):
        m = f"model.layers.{n}.mlp."
        experts(t, m + "experts.", 4, H, 32, ("gate_proj", "up_proj", "down_proj"))
        t[m + "gate.weight"] = (4, H)
        if bias:
            t[f"model.layers.{n}.self_attn.o_proj.bias"] = (H,)
    return cfg, t


def mixtral():
    cfg = base_config("mixtral", num_local_experts=4, num_experts_per_tok=2)
    t = llama_layout(cfg, mlp=False)
    for n in range(cfg["num_hidden_layers"]):
        m = f"model.layers.{n}.block_sparse_moe."
        experts(t, m + "experts.", 4, H, I, ("w1", "w3", "w2"))
        t[m + "gate.weight"] = (4, H)
    return cfg, t


def gemma(version):
    cfg = base_config({1: "gemma", 2: "gemma2"}[version], head_dim=32, attention_bias=False,
                      hidden_activation="gelu_pytorch_tanh")
    del cfg["hidden_act"]
    norms = ("input_layernorm", "post_attention_layernorm")
    if version == 2:
        cfg.update(query_pre_attn_scalar=32, sliding_window=128, attn_logit_softcapping=50.0,
                   final_logit_softcapping=30.0)
        norms += ("pre_feedforward_layernorm", "post_feedforward_layernorm")
    return cfg, llama_layout(cfg, norms=norms, tied=True)


CASES = {
    "qwen2": lambda: qwen2(tied=False),
    "qwen2-tied": lambda: qwen2(tied=True),
    "qwen2_moe": qwen2_moe,
    "qwen3_moe": lambda: qwen3_moe(bias=False),
    "qwen3_moe-bias": lambda: qwen3_moe(bias=True),
    "mixtral": mixtral,
    "gemma": lambda: gemma(1),
    "gemma2": lambda: gemma(2),
}


def make(case, out_dir, seed=0, drop=(), config_overrides=None):
    """Writes the case's checkpoint; returns its config."""
    cfg, shapes = CASES[case]()
    cfg.update(config_overrides or {})
    rng = np.random.default_rng(seed + sum(map(ord, case)))
    tensors = {}
    for name, shape in shapes.items():
        if name in drop:
            continue
        if len(shape) == 1:  # norms and biases: around 1 and 0, norms with a few exact -1s
            values = rng.standard_normal(shape) * 0.1 + (0 if name.endswith(".bias") else 1)
        else:
            values = rng.standard_normal(shape) * 0.05
        tensors[name] = values.astype(np.float32).astype(ml_dtypes.bfloat16)
    write_checkpoint(out_dir, cfg, tensors, sharded=False)
    return cfg


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?")
    parser.add_argument("case", nargs="?", choices=sorted(CASES))
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list or not args.case:
        print("\n".join(CASES))
        return 0
    make(args.case, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
