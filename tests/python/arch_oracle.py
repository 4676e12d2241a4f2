"""The HF -> MLC parameter mappings of the architectures beyond Llama and Qwen3, re-implemented in
Python from MLC-LLM's public model/loader facts, sharing nothing with the C++ converter.

Each function takes config.json (and the tensor-parallel shard count) and returns
([(mlc name, [source names], role, final_fc, map fn or None)], declared-unused names,
{mlc name: (shard dim, segments)}). Roles: "linear", "embedding", "experts" ([E, out, in]),
"other". A map fn receives the source arrays as numpy/ml_dtypes read them (bf16 stays bf16, as
MLC's safetensors loader keeps it) and returns the array before the cast to the model dtype;
without one, several sources are concatenated along axis 0.
"""
import numpy as np


def add_one(x):
    return x + 1  # in the source's own dtype, as MLC's Gemma loader computes it


def stack_groups(per_expert):
    def fn(*arrays):
        groups = [np.concatenate(arrays[i : i + per_expert], axis=0) for i in range(0, len(arrays), per_expert)]
        return np.stack(groups, axis=0)
    return fn


def transpose(x):
    return x.T


class Params:
    def __init__(self):
        self.params, self.unused, self.strategies = [], set(), {}

    def add(self, mlc, srcs, role="other", final_fc=False, fn=None, shard=None):
        self.params.append((mlc, list(srcs), role, final_fc, fn))
        if shard is not None:
            self.strategies[mlc] = shard

    def linear(self, mlc, srcs, bias=False, shard=None, fn=None):
        self.add(mlc + ".weight", [s + ".weight" for s in srcs], "linear", fn=fn, shard=shard)
        if bias:
            self.add(mlc + ".bias", [s + ".bias" for s in srcs], shard=shard if shard and shard[0] == 0 else None)

    def norm(self, mlc, src=None, bias=False, fn=None):
        src = src or mlc
        self.add(mlc + ".weight", [src + ".weight"], fn=fn)
        if bias:
            self.add(mlc + ".bias", [src + ".bias"])

    def done(self):
        return self.params, self.unused, self.strategies


def heads(cfg):
    h = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or h
    d = cfg.get("head_dim") or cfg["hidden_size"] // h
    return h, kv, d


# ---------------------------------------------------------------- Qwen2 and the MoE families


def qwen2(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "c_attn", [a + "q_proj", a + "k_proj", a + "v_proj"], bias=True, shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
        p.linear(m + "down_proj", [m + "down_proj"], shard=(1, None))
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
        p.unused.add(a + "rotary_emb.inv_freq")
    p.norm("model.norm")
    if not cfg.get("tie_word_embeddings", False):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def experts(p, mlc, prefix, names, count, shard=None):
    srcs = [f"{prefix}.{e}.{name}.weight" for e in range(count) for name in names]
    p.add(mlc, srcs, "experts", fn=stack_groups(len(names)), shard=shard)


def qwen2_moe(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k = h // t * d, kv // t * d
    si, mi, e = cfg["shared_expert_intermediate_size"] // t, cfg["moe_intermediate_size"] // t, cfg["num_experts"]
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "c_attn", [a + "q_proj", a + "k_proj", a + "v_proj"], bias=True, shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        s = m + "shared_expert."
        p.linear(s + "gate_up_proj", [s + "gate_proj", s + "up_proj"], shard=(0, [si, si]))
        p.linear(s + "down_proj", [s + "down_proj"], shard=(1, None))
        p.linear(m + "shared_expert_gate", [m + "shared_expert_gate"])
        p.linear(m + "gate", [m + "gate"])
        experts(p, m + "moe_gate_up_proj.weight", m + "experts", ["gate_proj", "up_proj"], e, shard=(1, [mi, mi]))
        experts(p, m + "moe_down_proj.weight", m + "experts", ["down_proj"], e, shard=(2, None))
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
    p.norm("model.norm")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def qwen3_moe(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, mi, e = h // t * d, kv // t * d, cfg["moe_intermediate_size"] // t, cfg["num_experts"]
    bias = cfg["attention_bias"]
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "c_attn", [a + "q_proj", a + "k_proj", a + "v_proj"], bias=bias, shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], bias=bias, shard=(1, None))
        p.norm(a + "q_norm")
        p.norm(a + "k_norm")
        p.linear(m + "gate", [m + "gate"])
        experts(p, m + "moe_gate_up_proj.weight", m + "experts", ["gate_proj", "up_proj"], e, shard=(1, [mi, mi]))
        experts(p, m + "moe_down_proj.weight", m + "experts", ["down_proj"], e, shard=(2, None))
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
    p.norm("model.norm")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def mixtral(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, i, e = h // t * d, kv // t * d, cfg["intermediate_size"] // t, cfg["num_local_experts"]
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}."
        hf, mlc = f"model.layers.{n}.block_sparse_moe.", f"model.layers.{n}.moe."
        p.linear(a + "qkv_proj", [a + "q_proj", a + "k_proj", a + "v_proj"], shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        experts(p, mlc + "e1_e3.weight", hf + "experts", ["w1", "w3"], e, shard=(1, [i, i]))
        experts(p, mlc + "e2.weight", hf + "experts", ["w2"], e, shard=(2, None))
        p.linear(mlc + "gate", [hf + "gate"])
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
        p.unused.add(a + "rotary_emb.inv_freq")
    p.norm("model.norm")
    if not cfg.get("tie_word_embeddings", False):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


# ---------------------------------------------------------------- Gemma


def gemma(cfg, t=1, extra_norms=(), qk_norm=False, prefix=""):
    """Gemma 1/2/3: Llama's fused layout, tied embeddings, every RMSNorm weight + 1."""
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add(prefix + "model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(prefix + a + "qkv_proj", [a + "q_proj", a + "k_proj", a + "v_proj"], shard=(0, [q, k, k]))
        p.linear(prefix + a + "o_proj", [a + "o_proj"], shard=(1, None))
        if qk_norm:
            p.norm(prefix + a + "q_norm", a + "q_norm", fn=add_one)
            p.norm(prefix + a + "k_norm", a + "k_norm", fn=add_one)
        p.linear(prefix + m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
        p.linear(prefix + m + "down_proj", [m + "down_proj"], shard=(1, None))
        for norm in ("input_layernorm", "post_attention_layernorm") + extra_norms:
            p.norm(prefix + l + norm, l + norm, fn=add_one)
    p.norm(prefix + "model.norm", "model.norm", fn=add_one)
    return p.done()


def gemma2(cfg, t=1):
    return gemma(cfg, t, extra_norms=("pre_feedforward_layernorm", "post_feedforward_layernorm"))


# ---------------------------------------------------------------- dense decoders


def standard(cfg, t, *, qkv="qkv_proj", qkv_bias=False, o_name="o_proj", o_src="o_proj", gate_up=True,
             norms=("input_layernorm", "post_attention_layernorm"), norm_bias=False, qk_norm=None,
             lm_head="config", unused_rotary=False):
    """The HF Llama-style layout under MLC's names: fused q/k/v into `qkv`, o, gate|up, down."""
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + qkv, [a + "q_proj", a + "k_proj", a + "v_proj"], bias=qkv_bias, shard=(0, [q, k, k]))
        p.linear(a + o_name, [a + o_src], shard=(1, None))
        if qk_norm:
            p.norm(a + "q_norm")
            p.norm(a + "k_norm")
        if gate_up:
            p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
        else:
            p.linear(m + "gate_proj", [m + "gate_proj"])
            p.linear(m + "up_proj", [m + "up_proj"])
        p.linear(m + "down_proj", [m + "down_proj"], shard=(1, None))
        for norm in norms:
            p.norm(l + norm, bias=norm_bias)
        if unused_rotary:
            p.unused.add(a + "rotary_emb.inv_freq")
    if norms or qk_norm:
        p.norm("model.norm", bias=norm_bias)
    if lm_head == "always" or (lm_head == "config" and not cfg.get("tie_word_embeddings", False)):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p


def stablelm(cfg, t=1):
    return standard(cfg, t, qkv_bias=cfg.get("use_qkv_bias", False), norm_bias=True, lm_head="always").done()


def olmo(cfg, t=1):
    return standard(cfg, t, norms=(), unused_rotary=True).done()


def olmo2(cfg, t=1):
    return standard(cfg, t, norms=("post_attention_layernorm", "post_feedforward_layernorm"), qk_norm=True,
                    unused_rotary=True).done()


def cohere(cfg, t=1):
    return standard(cfg, t, o_name="out_proj", gate_up=False, norms=("input_layernorm",), lm_head="never").done()


def baichuan(cfg, t=1):
    h, _, d = heads(cfg)
    i = cfg["intermediate_size"] // t
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "W_pack", [a + "W_pack"], shard=(0, [h // t * d] * 3))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
        p.linear(m + "down_proj", [m + "down_proj"], shard=(1, None))
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
    p.norm("model.norm")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def minicpm(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, i, e = h // t * d, kv // t * d, cfg["intermediate_size"] // t, cfg.get("num_experts", 0)
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "wqkv_pack", [a + "q_proj", a + "k_proj", a + "v_proj"], shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        if e == 0:
            p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
            p.linear(m + "down_proj", [m + "down_proj"], shard=(1, None))
        else:
            p.linear(m + "gate", [m + "gate"])
            experts(p, m + "e1_e3.weight", m + "experts", ["w1", "w3"], e, shard=(1, [i, i]))
            experts(p, m + "e2.weight", m + "experts", ["w2"], e, shard=(2, None))
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
    p.norm("model.norm")
    if not cfg.get("tie_word_embeddings", False):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def starcoder2(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, i, b = h // t * d, kv // t * d, cfg["intermediate_size"] // t, cfg["use_bias"]
    p = Params()
    # lm_head comes first in MLC's mapping and reads the embedding (both use embed_tokens).
    p.add("lm_head.weight", ["model.embed_tokens.weight"], "linear", True)
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "wqkv_pack", [a + "q_proj", a + "k_proj", a + "v_proj"], bias=b, shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], bias=b, shard=(1, None))
        p.linear(m + "c_fc", [m + "c_fc"], bias=b, shard=(0, None))
        p.linear(m + "c_proj", [m + "c_proj"], bias=b, shard=(1, None))
        if b:
            p.strategies[m + "c_proj.bias"] = (0, None)
        p.norm(l + "input_layernorm", bias=True)
        p.norm(l + "post_attention_layernorm", bias=True)
    p.norm("model.norm", bias=True)
    return p.done()


def phi3(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("transformer.embd.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        hf, mlc = f"model.layers.{n}.", f"transformer.h.{n}."
        p.norm(mlc + "ln", hf + "input_layernorm")
        p.linear(mlc + "mixer.qkv_proj", [hf + "self_attn.qkv_proj"], shard=(0, [q, k, k]))
        p.linear(mlc + "mixer.out_proj", [hf + "self_attn.o_proj"], shard=(1, None))
        p.linear(mlc + "mlp.gate_up_proj", [hf + "mlp.gate_up_proj"], shard=(0, [i, i]))
        p.linear(mlc + "mlp.down_proj", [hf + "mlp.down_proj"], shard=(1, None))
        p.norm(mlc + "post_attention_layernorm", hf + "post_attention_layernorm")
    p.norm("transformer.norm", "model.norm")
    if not cfg.get("tie_word_embeddings", False):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def internlm2_wqkv(cfg):
    """wqkv rows are grouped per kv head as [q x groups, k, v]; MLC regroups them as q, k, v."""
    groups = cfg["num_attention_heads"] // cfg["num_key_value_heads"]
    d = cfg["hidden_size"] // cfg["num_attention_heads"]

    def fn(w):
        w = w.reshape(-1, 2 + groups, d, w.shape[-1])
        wq, wk, wv = np.split(w, [groups, groups + 1], axis=1)
        return np.concatenate([x.reshape(-1, x.shape[-1]) for x in (wq, wk, wv)], axis=0)
    return fn


def internlm2(cfg, t=1):
    h, kv, d = heads(cfg)
    q, k, i, b = h // t * d, kv // t * d, cfg["intermediate_size"] // t, cfg["bias"]
    p = Params()
    p.add("model.tok_embeddings.weight", ["model.tok_embeddings.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, f, l = f"model.layers.{n}.attention.", f"model.layers.{n}.feed_forward.", f"model.layers.{n}."
        p.linear(a + "wqkv", [a + "wqkv"], bias=b, shard=(0, [q, k, k]), fn=internlm2_wqkv(cfg))
        p.linear(a + "wo", [a + "wo"], bias=b, shard=(1, None))
        p.linear(f + "gate_up_proj", [f + "w1", f + "w3"], shard=(0, [i, i]))
        p.linear(f + "w2", [f + "w2"], shard=(1, None))
        p.norm(l + "attention_norm")
        p.norm(l + "ffn_norm")
    p.norm("model.norm")
    p.add("output.weight", ["output.weight"], "linear")  # not a final-FC name in MLC
    return p.done()


PARAMS = {
    "stablelm": stablelm,
    "olmo": olmo,
    "olmo2": olmo2,
    "cohere": cohere,
    "baichuan": baichuan,
    "minicpm": minicpm,
    "starcoder2": starcoder2,
    "phi3": phi3,
    "internlm2": internlm2,
    "qwen2": qwen2,
    "qwen2_moe": qwen2_moe,
    "qwen3_moe": qwen3_moe,
    "mixtral": mixtral,
    "gemma": gemma,
    "gemma2": gemma2,
}
