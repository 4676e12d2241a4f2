"""The HF -> MLC parameter mapping of every architecture, one entry per model type in PARAMS,
re-implemented in Python from MLC-LLM's public model/loader facts, sharing nothing with the C++
converter.

Each function takes config.json (and the tensor-parallel shard count) and returns
([(mlc name, [source names], role, final_fc, map fn or None)], declared-unused names,
{mlc name: (shard dim, segments)}). Roles: "linear", "embedding", "experts" ([E, out, in]),
"other", and "fp8" and "f32" (kept in their own dtype whatever the scheme). A map fn receives the
source arrays as numpy/ml_dtypes read them (bf16 stays bf16, as MLC's safetensors loader keeps it)
and returns the array before the cast to the model dtype; without one, several sources are
concatenated along axis 0.
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


def experts(p, mlc, prefix, names, count, shard=None):
    srcs = [f"{prefix}.{e}.{name}.weight" for e in range(count) for name in names]
    p.add(mlc, srcs, "experts", fn=stack_groups(len(names)), shard=shard)


def routed(p, layer, count, inter, mlc="mlp.", hf="mlp.", names=("gate_proj", "up_proj", "down_proj"),
           mlc_names=("moe_gate_up_proj", "moe_down_proj")):
    """A router (Linear `gate`) and the experts stacked as MixtralExperts [E, out, in]."""
    p.linear(layer + mlc + "gate", [layer + hf + "gate"])
    experts(p, layer + mlc + mlc_names[0] + ".weight", layer + hf + "experts", names[:2], count,
            shard=(1, [inter, inter]))
    experts(p, layer + mlc + mlc_names[1] + ".weight", layer + hf + "experts", names[2:], count, shard=(2, None))


def qwen2(cfg, t=1):
    return standard(cfg, t, qkv="c_attn", qkv_bias=True, unused_rotary=True).done()


def qwen_moe(cfg, t=1):
    """Qwen2-MoE (c_attn with bias, a shared expert and its gate) and Qwen3-MoE (Qwen3 attention)."""
    mi = cfg["moe_intermediate_size"] // t
    moe = dict(count=cfg["num_experts"], inter=mi)
    if cfg["model_type"] == "qwen3_moe":
        b = cfg["attention_bias"]
        return standard(cfg, t, qkv="c_attn", qkv_bias=b, o_bias=b, qk_norm="head", moe=moe, lm_head="always").done()
    p = standard(cfg, t, qkv="c_attn", qkv_bias=True, moe=moe, lm_head="always")
    si = cfg["shared_expert_intermediate_size"] // t
    for n in range(cfg["num_hidden_layers"]):
        m = f"model.layers.{n}.mlp."
        s = m + "shared_expert."
        p.linear(s + "gate_up_proj", [s + "gate_proj", s + "up_proj"], shard=(0, [si, si]))
        p.linear(s + "down_proj", [s + "down_proj"], shard=(1, None))
        p.linear(m + "shared_expert_gate", [m + "shared_expert_gate"])
    return p.done()


def mixtral(cfg, t=1):
    moe = dict(count=cfg["num_local_experts"], inter=cfg["intermediate_size"] // t, mlc="moe.", hf="block_sparse_moe.",
               names=("w1", "w3", "w2"), mlc_names=("e1_e3", "e2"))
    return standard(cfg, t, moe=moe, unused_rotary=True).done()


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


def standard(cfg, t, *, qkv="qkv_proj", qkv_bias=False, o_bias=False, o_name="o_proj", o_src="o_proj",
             mlp="fused", mlp_bias=False, moe=None, norms=("input_layernorm", "post_attention_layernorm"), norm_bias=False,
             qk_norm=None, lm_head="config", unused_rotary=False):
    """The HF Llama-style layout under MLC's names: fused q/k/v into `qkv`, o, gate|up, down."""
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + qkv, [a + "q_proj", a + "k_proj", a + "v_proj"], bias=qkv_bias, shard=(0, [q, k, k]))
        p.linear(a + o_name, [a + o_src], bias=o_bias, shard=(1, None))
        if qk_norm:  # "head": one head_dim wide (Qwen3); "whole": over all q / k rows (OLMo2)
            p.norm(a + "q_norm")
            p.norm(a + "k_norm")
        if moe:
            routed(p, l, **moe)
        elif mlp == "fused":
            p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], bias=mlp_bias, shard=(0, [i, i]))
        else:  # "separate" gate_proj and up_proj, or "up" alone
            if mlp == "separate":
                p.linear(m + "gate_proj", [m + "gate_proj"], bias=mlp_bias)
            p.linear(m + "up_proj", [m + "up_proj"], bias=mlp_bias)
        if not moe:
            p.linear(m + "down_proj", [m + "down_proj"], bias=mlp_bias, shard=(1, None))
        for norm in norms:
            p.norm(l + norm, bias=norm_bias)
        if unused_rotary:
            p.unused.add(a + "rotary_emb.inv_freq")
    if norms or qk_norm:
        p.norm("model.norm", bias=norm_bias)
    if lm_head == "always" or (lm_head == "config" and not cfg.get("tie_word_embeddings", False)):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p


def llama(cfg, t=1):
    """Llama, and Mistral, which MLC maps the same way."""
    return standard(cfg, t, unused_rotary=True).done()


def qwen3(cfg, t=1):
    """Qwen3: q/k/v fused into c_attn (with their biases), q_norm / k_norm one head wide."""
    b = cfg["attention_bias"]
    return standard(cfg, t, qkv="c_attn", qkv_bias=b, o_bias=b, qk_norm="head").done()


def qwen3_embedding(cfg, t=1):
    """Qwen3-Embedding: Qwen3's mapping, its sources saved without the "model." prefix."""
    params, unused, strategies = qwen3(cfg, t)
    strip = lambda s: s[len("model."):] if s.startswith("model.") else s  # noqa: E731
    return [(p[0], [strip(s) for s in p[1]], *p[2:]) for p in params], unused, strategies


def stablelm(cfg, t=1):
    return standard(cfg, t, qkv_bias=cfg.get("use_qkv_bias", False), norm_bias=True, lm_head="always").done()


def olmo(cfg, t=1):
    return standard(cfg, t, norms=(), unused_rotary=True).done()


def olmo2(cfg, t=1):
    return standard(cfg, t, norms=("post_attention_layernorm", "post_feedforward_layernorm"), qk_norm="whole",
                    unused_rotary=True).done()


def cohere(cfg, t=1):
    return standard(cfg, t, o_name="out_proj", mlp="separate", norms=("input_layernorm",), lm_head="never").done()


def internlm(cfg, t=1):
    b = cfg["bias"]
    return standard(cfg, t, qkv="wqkv_pack", qkv_bias=b, o_bias=b, unused_rotary=True, lm_head="always").done()


def nemotron(cfg, t=1):
    """Squared-ReLU MLP (up_proj, down_proj), LayerNorms with bias, symbolic vocabulary."""
    return standard(cfg, t, mlp="up", mlp_bias=cfg.get("mlp_bias", False), norm_bias=True, unused_rotary=True).done()


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
    moe = None
    if cfg.get("num_experts", 0):
        moe = dict(count=cfg["num_experts"], inter=cfg["intermediate_size"] // t, names=("w1", "w3", "w2"),
                   mlc_names=("e1_e3", "e2"))
    return standard(cfg, t, qkv="wqkv_pack", moe=moe).done()


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


# ---------------------------------------------------------------- GPT family, Phi, ChatGLM


def gpt2(cfg, t=1):
    """Unprefixed HF names (h.N...); Conv1D weights transposed; lm_head read from wte."""
    hid, n_head = cfg["n_embd"], cfg["n_head"]
    q = n_head // t * (hid // n_head)
    p = Params()
    p.add("lm_head.weight", ["wte.weight"], "linear", True)
    p.add("transformer.wte.weight", ["wte.weight"], "embedding")
    p.add("transformer.wpe.weight", ["wpe.weight"], "embedding")
    for n in range(cfg["n_layer"]):
        h = f"h.{n}."
        p.norm("transformer." + h + "ln_1", h + "ln_1", bias=True)
        p.linear("transformer." + h + "attn.c_attn", [h + "attn.c_attn"], bias=True, shard=(0, [q, q, q]), fn=transpose)
        p.linear("transformer." + h + "attn.c_proj", [h + "attn.c_proj"], bias=True, shard=(1, None), fn=transpose)
        p.norm("transformer." + h + "ln_2", h + "ln_2", bias=True)
        p.linear("transformer." + h + "mlp.c_fc", [h + "mlp.c_fc"], bias=True, shard=(0, None), fn=transpose)
        p.linear("transformer." + h + "mlp.c_proj", [h + "mlp.c_proj"], bias=True, shard=(1, None), fn=transpose)
        p.unused.add(h + "attn.bias")
    p.norm("transformer.ln_f", "ln_f", bias=True)
    return p.done()


def gpt_bigcode(cfg, t=1):
    p = Params()
    p.add("transformer.wte.weight", ["transformer.wte.weight"], "embedding")
    p.add("transformer.wpe.weight", ["transformer.wpe.weight"], "embedding")
    for n in range(cfg["n_layer"]):
        h = f"transformer.h.{n}."
        p.norm(h + "ln_1", bias=True)
        p.linear(h + "attn.c_attn", [h + "attn.c_attn"], bias=True)
        p.linear(h + "attn.c_proj", [h + "attn.c_proj"], bias=True)
        p.norm(h + "ln_2", bias=True)
        p.linear(h + "mlp.c_fc", [h + "mlp.c_fc"], bias=True)
        p.linear(h + "mlp.c_proj", [h + "mlp.c_proj"], bias=True)
    p.norm("transformer.ln_f", bias=True)
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def gpt_neox_qkv(cfg):
    """Rows grouped per head as [q, k, v]; MLC regroups them as all q, all k, all v."""
    n_head = cfg["num_attention_heads"]
    d = cfg["hidden_size"] // n_head

    def fn(w):
        shape = w.shape
        w = np.reshape(w, [n_head, 3 * d, -1])
        return np.reshape(np.concatenate(np.split(w, 3, axis=1), axis=0), shape)
    return fn


def gpt_neox(cfg, t=1):
    hid, n_head = cfg["hidden_size"], cfg["num_attention_heads"]
    q = n_head // t * (hid // n_head)
    p = Params()
    p.add("gpt_neox.embed_in.weight", ["gpt_neox.embed_in.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        l = f"gpt_neox.layers.{n}."
        a = l + "attention."
        p.norm(l + "input_layernorm", bias=True)
        p.norm(l + "post_attention_layernorm", bias=True)
        qkv = a + "query_key_value"
        p.add(qkv + ".weight", [qkv + ".weight"], "linear", fn=gpt_neox_qkv(cfg), shard=(0, [q, q, q]))
        p.add(qkv + ".bias", [qkv + ".bias"], fn=gpt_neox_qkv(cfg), shard=(0, [q, q, q]))
        p.linear(a + "dense", [a + "dense"], bias=True, shard=(1, None))
        p.linear(l + "mlp.dense_h_to_4h", [l + "mlp.dense_h_to_4h"], shard=(0, None))
        p.add(l + "mlp.dense_h_to_4h.bias", [l + "mlp.dense_h_to_4h.bias"], "f32", shard=(0, None))
        p.linear(l + "mlp.dense_4h_to_h", [l + "mlp.dense_4h_to_h"], shard=(1, None))
        p.add(l + "mlp.dense_4h_to_h.bias", [l + "mlp.dense_4h_to_h.bias"], "f32")
        p.unused.update({a + "rotary_emb.inv_freq", a + "masked_bias", a + "bias"})
    p.norm("gpt_neox.final_layer_norm", bias=True)
    p.add("embed_out.weight", ["embed_out.weight"], "linear", True)
    return p.done()


def phi(cfg, t=1):
    """HF "phi" (Phi-1, 1.5, 2): q/k/v fused into mixer.Wqkv; a LayerNorm + Linear head."""
    h, kv, d = heads(cfg)
    q, k = h // t * d, kv // t * d
    p = Params()
    p.add("lm_head.linear.weight", ["lm_head.weight"], "linear", True)
    p.add("lm_head.linear.bias", ["lm_head.bias"])
    p.norm("lm_head.ln", "model.final_layernorm", bias=True)
    p.add("transformer.embd.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        hf, mlc = f"model.layers.{n}.", f"transformer.h.{n}."
        p.norm(mlc + "ln", hf + "input_layernorm", bias=True)
        p.linear(mlc + "mixer.Wqkv", [hf + "self_attn.q_proj", hf + "self_attn.k_proj", hf + "self_attn.v_proj"],
                 bias=True, shard=(0, [q, k, k]))
        p.linear(mlc + "mixer.out_proj", [hf + "self_attn.dense"], bias=True, shard=(1, None))
        p.linear(mlc + "mlp.fc1", [hf + "mlp.fc1"], bias=True, shard=(0, None))
        p.linear(mlc + "mlp.fc2", [hf + "mlp.fc2"], bias=True, shard=(1, None))
        p.unused.add(hf + "mixer.rotary_emb.inv_freq")
    return p.done()


def chatglm(cfg, t=1):
    b, qkv_b = cfg["add_bias_linear"], cfg["add_bias_linear"] or cfg["add_qkv_bias"]
    p = Params()
    p.add("transformer.embedding.weight", ["transformer.embedding.word_embeddings.weight"], "embedding")
    heads_, d = cfg["num_attention_heads"], cfg["hidden_size"] // cfg["num_attention_heads"]
    kv = cfg["multi_query_group_num"] if cfg["multi_query_attention"] else heads_
    q, k, f = heads_ // t * d, kv // t * d, cfg["ffn_hidden_size"] // t
    for n in range(cfg["num_layers"]):
        l = f"transformer.encoder.layers.{n}."
        p.norm(l + "input_layernorm")
        p.linear(l + "self_attention.query_key_value", [l + "self_attention.query_key_value"], bias=qkv_b,
                 shard=(0, [q, k, k]))
        p.linear(l + "self_attention.dense", [l + "self_attention.dense"], bias=b, shard=(1, None))
        p.norm(l + "post_attention_layernorm")
        p.linear(l + "mlp.dense_h_to_4h", [l + "mlp.dense_h_to_4h"], bias=b, shard=(0, None))
        p.linear(l + "mlp.dense_4h_to_h", [l + "mlp.dense_4h_to_h"], bias=b, shard=(1, None))
    if cfg["post_layer_norm"]:
        p.norm("transformer.encoder.final_layernorm", bias=not cfg["rmsnorm"])
    p.add("transformer.output_layer.weight", ["transformer.output_layer.weight"], "linear")
    return p.done()


def gemma3(cfg, t=1):
    """Gemma 3: separate q/k/v, q_norm/k_norm, four norms per layer (all + 1), MLC names under
    language_model.; HF names unprefixed for text-only configs, language_model. otherwise."""
    text = cfg.get("text_config")
    tc = text if text is not None else cfg
    hf = "language_model." if text is not None else ""
    p = Params()
    mlc = "language_model."
    p.add(mlc + "model.embed_tokens.weight", [hf + "model.embed_tokens.weight"], "embedding")
    for n in range(tc["num_hidden_layers"]):
        l = f"model.layers.{n}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            p.linear(mlc + l + "self_attn." + proj, [hf + l + "self_attn." + proj])
        for norm in ("self_attn.q_norm", "self_attn.k_norm", "input_layernorm", "post_attention_layernorm",
                     "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            p.norm(mlc + l + norm, hf + l + norm, fn=add_one)
        p.linear(mlc + l + "mlp.gate_up_proj", [hf + l + "mlp.gate_proj", hf + l + "mlp.up_proj"])
        p.linear(mlc + l + "mlp.down_proj", [hf + l + "mlp.down_proj"])
    p.norm(mlc + "model.norm", hf + "model.norm", fn=add_one)
    return p.done()


def deepseek_kv_b(cfg, part, block=(1, 1)):
    """MLC's w_uk (part 0, transposed) and w_uv (part 1) from kv_b_proj, or with the FP8 block
    size from its weight_scale_inv."""
    nope, v, rank = cfg["qk_nope_head_dim"] // block[0], cfg["v_head_dim"] // block[0], cfg["kv_lora_rank"] // block[1]

    def fn(w):
        pieces = np.split(w.reshape(cfg["num_key_value_heads"], nope + v, rank), [nope], axis=1)
        return pieces[0].transpose(0, 2, 1) if part == 0 else pieces[1]
    return fn


def deepseek(cfg, t=1):
    """DeepSeek V2 / V3: multi-head latent attention (w_uk / w_uv cut out of kv_b_proj, which is
    also kept), dense MLPs for the first layers, then routed experts + shared experts."""
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    bias, e = cfg["attention_bias"], cfg["n_routed_experts"]
    mi, si, i = (cfg["moe_intermediate_size"] // t, cfg["moe_intermediate_size"] * cfg["n_shared_experts"] // t,
                 cfg["intermediate_size"] // t)
    rows, cols = (0, None), (1, None)
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        a, m = l + "self_attn.", l + "mlp."
        if cfg.get("q_lora_rank") is None:
            p.linear(a + "q_proj", [a + "q_proj"], shard=rows)
        else:
            p.linear(a + "q_a_proj", [a + "q_a_proj"], bias=bias)
            p.norm(a + "q_a_layernorm")
            p.linear(a + "q_b_proj", [a + "q_b_proj"], shard=rows)
        p.linear(a + "kv_a_proj_with_mqa", [a + "kv_a_proj_with_mqa"], bias=bias)
        p.norm(a + "kv_a_layernorm")
        p.add(a + "w_uk", [a + "kv_b_proj.weight"], fn=deepseek_kv_b(cfg, 0), shard=rows)
        p.add(a + "w_uv", [a + "kv_b_proj.weight"], fn=deepseek_kv_b(cfg, 1), shard=rows)
        p.linear(a + "o_proj", [a + "o_proj"], bias=bias, shard=cols)
        if n >= cfg["first_k_dense_replace"] and n % cfg["moe_layer_freq"] == 0:
            s = m + "shared_experts."
            p.linear(s + "gate_up_proj", [s + "gate_proj", s + "up_proj"], shard=(0, [si, si]))
            routed(p, l, e, mi)
            if cfg["topk_method"] == "noaux_tc":
                p.add(m + "e_score_correction_bias", [m + "gate.e_score_correction_bias"], "f32")
            p.linear(s + "down_proj", [s + "down_proj"], shard=cols)
        else:
            p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
            p.linear(m + "down_proj", [m + "down_proj"], shard=cols)
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
        # kv_b_proj is an MLC parameter too, mapped after everything above.
        p.linear(a + "kv_b_proj", [a + "kv_b_proj"], shard=rows)
    p.norm("model.norm")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def deepseek_moe(cfg, t=1):
    """DeepSeek-MoE v1: wqkv_pack, dense then MoE layers with shared experts."""
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    bias = cfg["attention_bias"]
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        a, m = l + "self_attn.", l + "mlp."
        p.linear(a + "wqkv_pack", [a + "q_proj", a + "k_proj", a + "v_proj"])
        if bias:
            p.add(a + "wqkv_pack.bias", [a + "wqkv_pack.bias"])
        p.linear(a + "o_proj", [a + "o_proj"], bias=bias)
        if n >= cfg["first_k_dense_replace"] and n % cfg["moe_layer_freq"] == 0:
            routed(p, l, cfg["n_routed_experts"], cfg["moe_intermediate_size"])
            if cfg["n_shared_experts"]:
                s = m + "shared_experts."
                p.linear(s + "gate_up_proj", [s + "gate_proj", s + "up_proj"])
                p.linear(s + "down_proj", [s + "down_proj"])
        else:
            p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"])
            p.linear(m + "down_proj", [m + "down_proj"])
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
    p.norm("model.norm")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


PARAMS = {
    "llama": llama,
    "mistral": llama,
    "qwen3": qwen3,
    "qwen3-embedding": qwen3_embedding,
    "deepseek": deepseek_moe,
    "internlm": internlm,
    "nemotron": nemotron,
    "deepseek_v2": deepseek,
    "deepseek_v3": deepseek,
    "gemma3": gemma3,
    "gemma3_text": gemma3,
    "gpt2": gpt2,
    "gpt_bigcode": gpt_bigcode,
    "gpt_neox": gpt_neox,
    "phi": phi,
    "chatglm": chatglm,
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
    "qwen2_moe": qwen_moe,
    "qwen3_moe": qwen_moe,
    "mixtral": mixtral,
    "gemma": gemma,
    "gemma2": gemma2,
}

import arch_oracle_more  # noqa: E402  (its mappings reuse Params and heads above)

PARAMS.update(arch_oracle_more.PARAMS)

import arch_oracle_last  # noqa: E402

PARAMS.update(arch_oracle_last.PARAMS)
