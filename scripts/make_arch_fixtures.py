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

import arch_cases_more
from hf_checkpoint import (attention, decoder, experts, head_rows, layer_norms, random_tensor, swiglu,
                           write_checkpoint)

H, I, V = 64, 96, 48  # hidden, intermediate, vocab: small, and whole q4 groups


def base_config(model_type, **extra):
    cfg = {"model_type": model_type, "hidden_size": H, "intermediate_size": I, "num_attention_heads": 4,
           "num_key_value_heads": 2, "num_hidden_layers": 2, "rms_norm_eps": 1e-6, "vocab_size": V,
           "max_position_embeddings": 256, "hidden_act": "silu", "rope_theta": 10000.0}
    cfg.update(extra)
    return cfg


# ---------------------------------------------------------------- cases


def qwen2(tied):
    cfg = base_config("qwen2", tie_word_embeddings=tied)
    return cfg, decoder(cfg, qkv_bias=True)


def qwen2_moe():
    cfg = base_config("qwen2_moe", moe_intermediate_size=32, shared_expert_intermediate_size=64, num_experts=4,
                      num_experts_per_tok=2, decoder_sparse_step=1, tie_word_embeddings=False)
    t = decoder(cfg, qkv_bias=True, mlp=False)
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
    t = decoder(cfg, qkv_bias=bias, mlp=False, qk_norm=True)
    for n in range(cfg["num_hidden_layers"]):
        m = f"model.layers.{n}.mlp."
        experts(t, m + "experts.", 4, H, 32, ("gate_proj", "up_proj", "down_proj"))
        t[m + "gate.weight"] = (4, H)
        if bias:
            t[f"model.layers.{n}.self_attn.o_proj.bias"] = (H,)
    return cfg, t


def mixtral(tied=False, inter=I):
    cfg = base_config("mixtral", num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=tied,
                      intermediate_size=inter)
    t = decoder(cfg, mlp=False)
    for n in range(cfg["num_hidden_layers"]):
        m = f"model.layers.{n}.block_sparse_moe."
        experts(t, m + "experts.", 4, H, inter, ("w1", "w3", "w2"))
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
    return cfg, decoder(cfg, norms=norms, tied=True)


def stablelm(qkv_bias):
    cfg = base_config("stablelm", layer_norm_eps=1e-5, partial_rotary_factor=0.25, use_qkv_bias=qkv_bias)
    t = decoder(cfg, qkv_bias=qkv_bias, tied=False, norms=())
    for n in range(cfg["num_hidden_layers"]):
        layer_norms(t, f"model.layers.{n}.", ("input_layernorm", "post_attention_layernorm"), H, True)
    t["model.norm.bias"] = (H,)
    return cfg, t


def olmo(version, tied=False):
    cfg = base_config("olmo" if version == 1 else "olmo2", tie_word_embeddings=tied)
    if version == 1:  # OLMo's layer norms have no parameters
        cfg.update(clip_qkv=8.0)
        t = decoder(cfg, norms=())
        del t["model.norm.weight"]
        return cfg, t
    t = decoder(cfg, norms=("post_attention_layernorm", "post_feedforward_layernorm"))
    q, kv = head_rows(cfg)
    for n in range(cfg["num_hidden_layers"]):
        t[f"model.layers.{n}.self_attn.q_norm.weight"] = (q,)
        t[f"model.layers.{n}.self_attn.k_norm.weight"] = (kv,)
    return cfg, t


def cohere():
    cfg = base_config("cohere", layer_norm_eps=1e-5, logit_scale=0.0625, use_qk_norm=False)
    return cfg, decoder(cfg, norms=("input_layernorm",), tied=True)


def baichuan():
    cfg = base_config("baichuan", initializer_range=0.02, use_cache=True, pad_token_id=0, bos_token_id=1,
                      eos_token_id=2, tie_word_embeddings=False)
    del cfg["num_key_value_heads"]
    t = {"model.embed_tokens.weight": (V, H)}
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        t[l + "self_attn.W_pack.weight"] = (3 * H, H)
        t[l + "self_attn.o_proj.weight"] = (H, H)
        swiglu(t, l + "mlp.", H, I)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), H, False)
    t["model.norm.weight"] = (H,)
    t["lm_head.weight"] = (V, H)
    return cfg, t


def minicpm(tied=False, moe=False):
    cfg = base_config("minicpm", scale_emb=12, scale_depth=1.4, dim_model_base=256, use_cache=True,
                      bos_token_id=1, eos_token_id=2, tie_word_embeddings=tied)
    if moe:
        cfg.update(num_experts=4, num_experts_per_tok=2)
    t = decoder(cfg, mlp=not moe)
    for n in range(cfg["num_hidden_layers"] if moe else 0):
        m = f"model.layers.{n}.mlp."
        experts(t, m + "experts.", 4, H, I, ("w1", "w3", "w2"))
        t[m + "gate.weight"] = (4, H)
    return cfg, t


def starcoder2(bias):
    cfg = base_config("starcoder2", norm_epsilon=1e-5, use_bias=bias, use_cache=True, bos_token_id=0,
                      eos_token_id=0, hidden_act="gelu_pytorch_tanh")
    t = {"model.embed_tokens.weight": (V, H)}
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        attention(t, l + "self_attn.", cfg, qkv_bias=bias, o_bias=bias)
        t[l + "mlp.c_fc.weight"] = (I, H)
        t[l + "mlp.c_proj.weight"] = (H, I)
        if bias:
            t[l + "mlp.c_fc.bias"] = (I,)
            t[l + "mlp.c_proj.bias"] = (H,)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), H, True)
    layer_norms(t, "model.", ("norm",), H, True)
    return cfg, t


def phi3(tied=False):
    cfg = base_config("phi3", tie_word_embeddings=tied, original_max_position_embeddings=256)
    q, kv = head_rows(cfg)
    t = {"model.embed_tokens.weight": (V, H)}
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        t[l + "self_attn.qkv_proj.weight"] = (q + 2 * kv, H)
        t[l + "self_attn.o_proj.weight"] = (H, q)
        t[l + "mlp.gate_up_proj.weight"] = (2 * I, H)
        t[l + "mlp.down_proj.weight"] = (H, I)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), H, False)
    t["model.norm.weight"] = (H,)
    if not tied:
        t["lm_head.weight"] = (V, H)
    return cfg, t


def internlm2(bias=False):
    cfg = base_config("internlm2", bias=bias, use_cache=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    q, kv = head_rows(cfg)
    t = {"model.tok_embeddings.weight": (V, H)}
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        t[l + "attention.wqkv.weight"] = (q + 2 * kv, H)
        t[l + "attention.wo.weight"] = (H, q)
        if bias:
            t[l + "attention.wqkv.bias"] = (q + 2 * kv,)
            t[l + "attention.wo.bias"] = (H,)
        swiglu(t, l + "feed_forward.", H, I, ("w1", "w3", "w2"))
        layer_norms(t, l, ("attention_norm", "ffn_norm"), H, False)
    t["model.norm.weight"] = (H,)
    t["output.weight"] = (V, H)
    return cfg, t


def gpt2():
    """The original GPT-2 layout: unprefixed names, Conv1D weights stored [in, out]."""
    cfg = {"model_type": "gpt2", "vocab_size": V, "n_embd": H, "n_layer": 2, "n_head": 4, "n_positions": 32,
           "n_inner": None, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
    t = {"wte.weight": (V, H), "wpe.weight": (32, H)}
    for n in range(2):
        h = f"h.{n}."
        layer_norms(t, h, ("ln_1", "ln_2"), H, True)
        for name, shape in (("attn.c_attn", (H, 3 * H)), ("attn.c_proj", (H, H)), ("mlp.c_fc", (H, 4 * H)),
                            ("mlp.c_proj", (4 * H, H))):
            t[h + name + ".weight"] = shape
            t[h + name + ".bias"] = (shape[1],)
    layer_norms(t, "", ("ln_f",), H, True)
    return cfg, t


def gpt_bigcode():
    """Multi-query attention: c_attn yields all q heads plus one k and one v head."""
    d = H // 4
    cfg = {"model_type": "gpt_bigcode", "vocab_size": V, "n_embd": H, "n_inner": I, "n_head": 4, "n_layer": 2,
           "n_positions": 32, "layer_norm_epsilon": 1e-5, "multi_query": True}
    t = {"transformer.wte.weight": (V, H), "transformer.wpe.weight": (32, H)}
    for n in range(2):
        h = f"transformer.h.{n}."
        layer_norms(t, h, ("ln_1", "ln_2"), H, True)
        for name, shape in (("attn.c_attn", (H + 2 * d, H)), ("attn.c_proj", (H, H)), ("mlp.c_fc", (I, H)),
                            ("mlp.c_proj", (H, I))):
            t[h + name + ".weight"] = shape
            t[h + name + ".bias"] = (shape[0],)
    layer_norms(t, "transformer.", ("ln_f",), H, True)
    t["lm_head.weight"] = (V, H)
    return cfg, t


def gpt_neox():
    cfg = {"model_type": "gpt_neox", "vocab_size": V, "hidden_size": H, "intermediate_size": I,
           "num_attention_heads": 4, "num_hidden_layers": 2, "layer_norm_eps": 1e-5, "rotary_pct": 0.25,
           "use_parallel_residual": True, "max_position_embeddings": 256}
    t = {"gpt_neox.embed_in.weight": (V, H)}
    for n in range(2):
        l = f"gpt_neox.layers.{n}."
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), H, True)
        for name, shape in (("attention.query_key_value", (3 * H, H)), ("attention.dense", (H, H)),
                            ("mlp.dense_h_to_4h", (I, H)), ("mlp.dense_4h_to_h", (H, I))):
            t[l + name + ".weight"] = shape
            t[l + name + ".bias"] = (shape[0],)
    layer_norms(t, "gpt_neox.", ("final_layer_norm",), H, True)
    t["embed_out.weight"] = (V, H)
    return cfg, t


def phi():
    cfg = base_config("phi", layer_norm_eps=1e-5, partial_rotary_factor=0.5, hidden_act="gelu_new")
    del cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    t = {"model.embed_tokens.weight": (V, H)}
    for n in range(2):
        l = f"model.layers.{n}."
        layer_norms(t, l, ("input_layernorm",), H, True)
        attention(t, l + "self_attn.", cfg, qkv_bias=True, o_bias=True, names=("q_proj", "k_proj", "v_proj", "dense"))
        t[l + "mlp.fc1.weight"], t[l + "mlp.fc1.bias"] = (I, H), (I,)
        t[l + "mlp.fc2.weight"], t[l + "mlp.fc2.bias"] = (H, I), (H,)
    layer_norms(t, "model.", ("final_layernorm",), H, True)
    t["lm_head.weight"], t["lm_head.bias"] = (V, H), (V,)
    return cfg, t


def chatglm(bias=False):
    """ChatGLM3's layout: fused query_key_value (with a bias), swiglu dense_h_to_4h, MQA groups."""
    d, groups = 16, 2
    cfg = {"model_type": "chatglm", "hidden_size": H, "num_layers": 2, "kv_channels": d, "num_attention_heads": 4,
           "ffn_hidden_size": I, "layernorm_epsilon": 1e-5, "post_layer_norm": True, "rmsnorm": True,
           "add_bias_linear": bias, "add_qkv_bias": True, "apply_query_key_layer_scaling": True,
           "multi_query_attention": True, "multi_query_group_num": groups, "padded_vocab_size": V, "seq_length": 256}
    t = {"transformer.embedding.word_embeddings.weight": (V, H)}
    for n in range(2):
        l = f"transformer.encoder.layers.{n}."
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), H, False)
        t[l + "self_attention.query_key_value.weight"] = (H + 2 * groups * d, H)
        t[l + "self_attention.query_key_value.bias"] = (H + 2 * groups * d,)
        t[l + "self_attention.dense.weight"] = (H, H)
        t[l + "mlp.dense_h_to_4h.weight"] = (2 * I, H)
        t[l + "mlp.dense_4h_to_h.weight"] = (H, I)
        if bias:
            t[l + "self_attention.dense.bias"] = (H,)
            t[l + "mlp.dense_h_to_4h.bias"] = (2 * I,)
            t[l + "mlp.dense_4h_to_h.bias"] = (H,)
    t["transformer.encoder.final_layernorm.weight"] = (H,)
    t["transformer.output_layer.weight"] = (V, H)
    return cfg, t


def gemma3(text_only):
    """Gemma 3: text-only configs are flat (gemma3_text); multimodal ones nest text_config and
    prefix the language model's tensors with language_model. (the vision tower is left out)."""
    text = {"hidden_size": H, "intermediate_size": I, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 32, "rms_norm_eps": 1e-6, "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": 32, "sliding_window": 64, "max_position_embeddings": 256,
            "rope_theta": 1000000.0, "vocab_size": V}
    t = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    for n in range(2):
        l = f"model.layers.{n}."
        attention(t, l + "self_attn.", {"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
                                        "hidden_size": H})
        t[l + "self_attn.q_norm.weight"] = (32,)
        t[l + "self_attn.k_norm.weight"] = (32,)
        swiglu(t, l + "mlp.", H, I)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                           "post_feedforward_layernorm"), H, False)
    if text_only:
        return {"model_type": "gemma3_text", **text}, t
    cfg = {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", **text},
           "vision_config": {"model_type": "siglip_vision_model"}}
    return cfg, {"language_model." + k: v for k, v in t.items()}


def deepseek(version, bias=False, wide=False):
    """Multi-head latent attention; layer 0 dense, layer 1 MoE (4 routed + 1 shared expert).
    `wide` makes every FP8 Linear span whole 128 x 128 blocks per head, as real DeepSeek-V3 FP8
    checkpoints (and MLC, which accepts no other block size for them) need."""
    hidden, inter, heads, nope, rope, v, rank, q_rank, moe = (
        (128, 128, 2, 128, 64, 128, 128, 128, 128) if wide else (H, I, 4, 16, 8, 16, 32, 32, 32))
    cfg = base_config(f"deepseek_v{version}", num_key_value_heads=heads, moe_intermediate_size=moe,
                      n_shared_experts=1, n_routed_experts=4, num_experts_per_tok=2, norm_topk_prob=False,
                      first_k_dense_replace=1, moe_layer_freq=1, routed_scaling_factor=1.0, scoring_func="softmax",
                      topk_method="greedy", n_group=1, topk_group=1, attention_bias=False, kv_lora_rank=rank,
                      qk_rope_head_dim=rope, v_head_dim=v, qk_nope_head_dim=nope, q_lora_rank=None)
    if wide:
        cfg.update(hidden_size=hidden, intermediate_size=inter, num_attention_heads=heads)
    if version == 3:
        cfg.update(q_lora_rank=q_rank, scoring_func="sigmoid", topk_method="noaux_tc", n_group=2, topk_group=1)
    cfg["attention_bias"] = bias
    t = {"model.embed_tokens.weight": (V, hidden), "model.norm.weight": (hidden,), "lm_head.weight": (V, hidden)}
    for n in range(2):
        l = f"model.layers.{n}."
        a, m = l + "self_attn.", l + "mlp."
        if version == 2:
            t[a + "q_proj.weight"] = (heads * (nope + rope), hidden)
        else:
            t[a + "q_a_proj.weight"] = (q_rank, hidden)
            t[a + "q_a_layernorm.weight"] = (q_rank,)
            t[a + "q_b_proj.weight"] = (heads * (nope + rope), q_rank)
        t[a + "kv_a_proj_with_mqa.weight"] = (rank + rope, hidden)
        t[a + "kv_a_layernorm.weight"] = (rank,)
        t[a + "kv_b_proj.weight"] = (heads * (nope + v), rank)
        t[a + "o_proj.weight"] = (hidden, heads * v)
        if bias:  # q_a_proj, kv_a_proj_with_mqa and o_proj carry one
            t[a + "kv_a_proj_with_mqa.bias"] = (rank + rope,)
            t[a + "o_proj.bias"] = (hidden,)
            if version == 3:
                t[a + "q_a_proj.bias"] = (q_rank,)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), hidden, False)
        if n == 0:
            swiglu(t, m, hidden, inter)
            continue
        experts(t, m + "experts.", 4, hidden, moe, ("gate_proj", "up_proj", "down_proj"))
        swiglu(t, m + "shared_experts.", hidden, moe)
        t[m + "gate.weight"] = (4, hidden)
        if version == 3:
            t[m + "gate.e_score_correction_bias"] = (4,)
    return cfg, t


def llama(model_type, tied=False):
    cfg = base_config(model_type, tie_word_embeddings=tied)
    if model_type == "mistral":
        cfg.update(sliding_window=4096)
        del cfg["tie_word_embeddings"]
    return cfg, decoder(cfg)


def qwen3(bias):
    cfg = base_config("qwen3", head_dim=16, attention_bias=bias)
    t = decoder(cfg, qkv_bias=bias, qk_norm=True)
    for n in range(cfg["num_hidden_layers"] if bias else 0):
        t[f"model.layers.{n}.self_attn.o_proj.bias"] = (H,)
    return cfg, t


def qwen3_embedding():
    """Qwen3-Embedding: Qwen3's text model saved without the "model." prefix and without a head;
    real configs say "qwen3" (then --model-type qwen3-embedding picks it)."""
    cfg, t = qwen3(bias=False)
    cfg.update(model_type="qwen3-embedding", tie_word_embeddings=True)
    return cfg, {k[len("model."):]: v for k, v in t.items() if k != "lm_head.weight"}


def internlm(bias):
    cfg = base_config("internlm", bias=bias, use_cache=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    del cfg["num_key_value_heads"]
    t = decoder(cfg, qkv_bias=bias, tied=False)
    for n in range(cfg["num_hidden_layers"] if bias else 0):
        t[f"model.layers.{n}.self_attn.o_proj.bias"] = (H,)
    return cfg, t


def nemotron(mlp_bias, tied):
    cfg = base_config("nemotron", norm_eps=1e-5, partial_rotary_factor=0.5, mlp_bias=mlp_bias,
                      tie_word_embeddings=tied, hidden_act="relu2")
    t = decoder(cfg, norms=(), mlp=False)
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        t[l + "mlp.up_proj.weight"], t[l + "mlp.down_proj.weight"] = (I, H), (H, I)
        if mlp_bias:
            t[l + "mlp.up_proj.bias"], t[l + "mlp.down_proj.bias"] = (I,), (H,)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), H, True)
    t["model.norm.bias"] = (H,)
    return cfg, t


def deepseek_moe():
    """DeepSeek-MoE v1: layer 0 dense, layer 1 with 4 routed experts and 2 shared ones."""
    cfg = base_config("deepseek", moe_intermediate_size=32, n_shared_experts=2, n_routed_experts=4,
                      num_experts_per_tok=2, moe_layer_freq=1, first_k_dense_replace=1, norm_topk_prob=False,
                      attention_bias=False, use_cache=True, bos_token_id=0, eos_token_id=1)
    t = decoder(cfg, mlp=False, tied=False)
    swiglu(t, "model.layers.0.mlp.", H, I)
    m = "model.layers.1.mlp."
    experts(t, m + "experts.", 4, H, 32, ("gate_proj", "up_proj", "down_proj"))
    swiglu(t, m + "shared_experts.", H, 64)
    t[m + "gate.weight"] = (4, H)
    return cfg, t


CASES = {
    "deepseek": deepseek_moe,
    "qwen3-embedding": qwen3_embedding,
    "internlm": lambda: internlm(bias=False),
    "internlm-bias": lambda: internlm(bias=True),
    "nemotron": lambda: nemotron(mlp_bias=True, tied=False),
    "nemotron-tied": lambda: nemotron(mlp_bias=False, tied=True),
    "llama": lambda: llama("llama"),
    "llama-tied": lambda: llama("llama", tied=True),
    "mistral": lambda: llama("mistral"),
    "qwen3": lambda: qwen3(bias=False),
    "qwen3-bias": lambda: qwen3(bias=True),
    "deepseek_v2": lambda: deepseek(2),
    "deepseek_v3": lambda: deepseek(3),
    "deepseek_v3-bias": lambda: deepseek(3, bias=True),
    "gemma3_text": lambda: gemma3(text_only=True),
    "gemma3": lambda: gemma3(text_only=False),
    "gpt2": gpt2,
    "gpt_bigcode": gpt_bigcode,
    "gpt_neox": gpt_neox,
    "phi": phi,
    "chatglm": chatglm,
    "chatglm-bias": lambda: chatglm(bias=True),
    "stablelm": lambda: stablelm(qkv_bias=True),
    "stablelm-nobias": lambda: stablelm(qkv_bias=False),
    "olmo": lambda: olmo(1),
    "olmo-tied": lambda: olmo(1, tied=True),
    "olmo2": lambda: olmo(2),
    "olmo2-tied": lambda: olmo(2, tied=True),
    "cohere": cohere,
    "baichuan": baichuan,
    "minicpm": minicpm,
    "minicpm-tied": lambda: minicpm(tied=True),
    "minicpm-moe": lambda: minicpm(moe=True),
    "starcoder2": lambda: starcoder2(bias=True),
    "starcoder2-nobias": lambda: starcoder2(bias=False),
    "phi3": phi3,
    "phi3-tied": lambda: phi3(tied=True),
    "internlm2": internlm2,
    "internlm2-bias": lambda: internlm2(bias=True),
    "qwen2": lambda: qwen2(tied=False),
    "qwen2-tied": lambda: qwen2(tied=True),
    "qwen2_moe": qwen2_moe,
    "qwen3_moe": lambda: qwen3_moe(bias=False),
    "qwen3_moe-bias": lambda: qwen3_moe(bias=True),
    "mixtral": mixtral,
    "mixtral-tied": lambda: mixtral(tied=True),
    "mixtral-tp": lambda: mixtral(inter=128),  # experts split over 2 shards in whole q4 groups
    "gemma": lambda: gemma(1),
    "gemma2": lambda: gemma(2),
}
CASES.update(arch_cases_more.CASES)


# Cases for FP8 block checkpoints only (not in CASES: the architecture tables don't list them).
FP8_CASES = {
    "deepseek_v3-wide": lambda: deepseek(3, wide=True),
    "deepseek_v3-wide-bias": lambda: deepseek(3, bias=True, wide=True),
}


def is_fp8_linear(name, shape):
    """What FP8 block-quantized checkpoints (DeepSeek-V3, Qwen3-FP8) store as float8: the Linear
    weights, except the embedding, the head and the MoE routers."""
    return (len(shape) == 2 and name.endswith(".weight") and "embed_tokens" not in name
            and not name.startswith("lm_head") and not name.endswith("gate.weight"))


def make(case, out_dir, seed=0, drop=(), config_overrides=None, fp8_blocks=None, planted=False):
    """Writes the case's checkpoint; returns its config. The shapes follow the case's own config,
    before config_overrides; `drop` leaves tensors out (for damaged checkpoints). With fp8_blocks
    (rows, cols) its Linear weights are float8_e4m3fn with a weight_scale_inv per block, as FP8
    releases ship them; `planted` gives every matrix rows of exact rounding ties and zero groups."""
    cfg, shapes = {**CASES, **FP8_CASES}[case]()
    cfg.update(config_overrides or {})
    if fp8_blocks:
        cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                      "weight_block_size": list(fp8_blocks)}
    rng = np.random.default_rng(seed + sum(map(ord, case)))
    tensors = {}
    for name, shape in shapes.items():
        if name in drop:  # drawn for nothing: the other tensors keep their values
            continue
        values = random_tensor(name, shape, rng, planted=planted)
        if fp8_blocks and is_fp8_linear(name, shape):
            tensors[name] = np.clip(values * 2000, -448, 448).astype(ml_dtypes.float8_e4m3fn)
            blocks = (-(-shape[0] // fp8_blocks[0]), -(-shape[1] // fp8_blocks[1]))
            tensors[name + "_scale_inv"] = (rng.random(blocks) * 0.01 + 1e-3).astype(np.float32)
            continue
        tensors[name] = values.astype(np.float32).astype(ml_dtypes.bfloat16)
    write_checkpoint(out_dir, cfg, {k: v for k, v in tensors.items() if k not in drop})
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
