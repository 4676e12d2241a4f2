"""The oracle's mappings for the model types added after arch_oracle.py filled up (merged into its
PARAMS): Ministral 3, Qwen v1, Orion, GPT-J and Phi-msft, from MLC-LLM's public model/loader facts."""
import numpy as np

from arch_oracle import Params, heads


def ministral3(cfg, t=1):
    """Llama's fused layout over the merged text config; sources under language_model. when a
    vision tower is configured; inv_freq declared unused without that prefix."""
    c = {**cfg, **(cfg.get("text_config") or {})}
    if "tie_word_embeddings" in cfg:
        c["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    pre = "language_model." if "vision_config" in c else ""
    h, kv, d = heads(c)
    q, k, i = h // t * d, kv // t * d, c["intermediate_size"] // t
    p = Params()
    p.add("model.embed_tokens.weight", [pre + "model.embed_tokens.weight"], "embedding")
    for n in range(c["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "qkv_proj", [pre + a + x for x in ("q_proj", "k_proj", "v_proj")], shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [pre + a + "o_proj"], shard=(1, None))
        p.linear(m + "gate_up_proj", [pre + m + "gate_proj", pre + m + "up_proj"], shard=(0, [i, i]))
        p.linear(m + "down_proj", [pre + m + "down_proj"], shard=(1, None))
        p.norm(l + "input_layernorm", pre + l + "input_layernorm")
        p.norm(l + "post_attention_layernorm", pre + l + "post_attention_layernorm")
        p.unused.add(a + "rotary_emb.inv_freq")
    p.norm("model.norm", pre + "model.norm")
    if not c.get("tie_word_embeddings", False):
        p.add("lm_head.weight", [pre + "lm_head.weight"], "linear", True)
    return p.done()


def plus_one_f32(x):
    return x.astype(np.float32) + np.float32(1)  # Qwen3.5's loader widens, then adds


def qwen3_5(cfg, t=1):
    """Qwen3.5's hybrid: text_config over the top level; every full_attention_interval-th layer
    gated attention (c_attn from q|k|v, q_proj twice a head's rows), the others GatedDeltaNet
    (one to one; A_log and dt_bias float32); RMSNorms + 1 in float32 except the gated one; all
    sources under model.language_model., the head as lm_head."""
    c = {**cfg, **(cfg.get("text_config") or {})}
    hf = "model.language_model."
    p = Params()
    p.add("model.embed_tokens.weight", [hf + "embed_tokens.weight"], "embedding")
    for n in range(c["num_hidden_layers"]):
        l = f"layers.{n}."
        if (n + 1) % c.get("full_attention_interval", 4) == 0:
            a, ha = "model." + l + "self_attn.", hf + l + "self_attn."
            p.linear(a + "c_attn", [ha + "q_proj", ha + "k_proj", ha + "v_proj"])
            p.linear(a + "o_proj", [ha + "o_proj"])
            p.norm(a + "q_norm", ha + "q_norm", fn=plus_one_f32)
            p.norm(a + "k_norm", ha + "k_norm", fn=plus_one_f32)
        else:
            a, ha = "model." + l + "linear_attn.", hf + l + "linear_attn."
            for name in ("in_proj_qkv", "in_proj_z", "in_proj_a", "in_proj_b", "out_proj"):
                p.linear(a + name, [ha + name])
            p.add(a + "conv1d_weight", [ha + "conv1d.weight"])
            p.add(a + "A_log", [ha + "A_log"], "f32")
            p.add(a + "dt_bias", [ha + "dt_bias"], "f32")
            p.norm(a + "norm", ha + "norm")
        p.linear("model." + l + "mlp.gate_up_proj", [hf + l + "mlp.gate_proj", hf + l + "mlp.up_proj"])
        p.linear("model." + l + "mlp.down_proj", [hf + l + "mlp.down_proj"])
        for norm in ("input_layernorm", "post_attention_layernorm"):
            p.norm("model." + l + norm, hf + l + norm, fn=plus_one_f32)
    p.norm("model.norm", hf + "norm", fn=plus_one_f32)
    if not c.get("tie_word_embeddings", False):
        p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def bert(cfg, t=1):
    """BERT's encoder: three embeddings (quantized as such; positions: context_window_size rows),
    query | key | value (weights and biases) into attention.self.qkv, every other tensor one to
    one under its HF name; BGE's pooler and position_ids declared unused."""
    p = Params()
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        p.add(f"embeddings.{name}.weight", [f"embeddings.{name}.weight"], "embedding")
    p.norm("embeddings.LayerNorm", bias=True)
    for n in range(cfg["num_hidden_layers"]):
        l = f"encoder.layer.{n}."
        s = l + "attention.self."
        p.linear(s + "qkv", [s + "query", s + "key", s + "value"], bias=True)
        p.linear(l + "attention.output.dense", [l + "attention.output.dense"], bias=True)
        p.norm(l + "attention.output.LayerNorm", bias=True)
        p.linear(l + "intermediate.dense", [l + "intermediate.dense"], bias=True)
        p.linear(l + "output.dense", [l + "output.dense"], bias=True)
        p.norm(l + "output.LayerNorm", bias=True)
    if cfg["model_type"] == "bert-bge":
        p.unused.update({"pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"})
    return p.done()


def qwen(cfg, t=1):
    """Qwen v1: c_attn (fused already, with a bias) and c_proj one to one, w1 | w2 into
    gate_up_proj (intermediate_size / t rows in all), RMSNorms ln_1 / ln_2, an lm_head always."""
    h = cfg["num_attention_heads"]
    q, i = h // t * (cfg["hidden_size"] // h), cfg["intermediate_size"] // t
    p = Params()
    p.add("transformer.wte.weight", ["transformer.wte.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        l = f"transformer.h.{n}."
        p.linear(l + "attn.c_attn", [l + "attn.c_attn"], bias=True, shard=(0, [q, q, q]))
        p.linear(l + "attn.c_proj", [l + "attn.c_proj"], shard=(1, None))
        p.linear(l + "mlp.gate_up_proj", [l + "mlp.w1", l + "mlp.w2"], shard=(0, [i // 2, i // 2]))
        p.linear(l + "mlp.c_proj", [l + "mlp.c_proj"], shard=(1, None))
        p.norm(l + "ln_1")
        p.norm(l + "ln_2")
    p.norm("transformer.ln_f")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def orion(cfg, t=1):
    """Llama's fused mapping with LayerNorms (weight and bias); an lm_head always."""
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("model.embed_tokens.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"model.layers.{n}.self_attn.", f"model.layers.{n}.mlp.", f"model.layers.{n}."
        p.linear(a + "qkv_proj", [a + "q_proj", a + "k_proj", a + "v_proj"], shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
        p.linear(m + "down_proj", [m + "down_proj"], shard=(1, None))
        p.norm(l + "input_layernorm", bias=True)
        p.norm(l + "post_attention_layernorm", bias=True)
        p.unused.add(a + "rotary_emb.inv_freq")
    p.norm("model.norm", bias=True)
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    return p.done()


def gptj(cfg, t=1):
    """GPT-J as MLC's loader means it (its lookup of self_attn.c_attn fails): attn.c_attn from
    q_proj | k_proj | v_proj, the rest one to one."""
    p = Params()
    p.add("transformer.wte.weight", ["transformer.wte.weight"], "embedding")
    for n in range(cfg["n_layer"]):
        l = f"transformer.h.{n}."
        p.norm(l + "ln_1", bias=True)
        p.linear(l + "attn.c_attn", [l + "attn.q_proj", l + "attn.k_proj", l + "attn.v_proj"])
        p.linear(l + "attn.out_proj", [l + "attn.out_proj"])
        p.linear(l + "mlp.fc_in", [l + "mlp.fc_in"], bias=True)
        p.linear(l + "mlp.fc_out", [l + "mlp.fc_out"], bias=True)
    p.norm("transformer.ln_f", bias=True)
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    p.add("lm_head.bias", ["lm_head.bias"])
    return p.done()


def phi_msft(cfg, t=1):
    """MLC's phi parameters from Microsoft's names; mixformer-sequential numbers its modules
    layers.0 (embedding), layers.1..n (blocks), layers.n+1 (head)."""
    seq = cfg["model_type"] == "mixformer-sequential"
    heads_ = cfg.get("n_head", 32)
    kv = cfg.get("n_head_kv") or heads_
    d = cfg.get("n_embd", 2560) // heads_
    q, k = heads_ // t * d, kv // t * d
    layers = cfg.get("n_layer", 32)
    p = Params()
    p.add("transformer.embd.weight", ["layers.0.wte.weight" if seq else "transformer.embd.wte.weight"], "embedding")
    for n in range(layers):
        mlc, src = f"transformer.h.{n}.", (f"layers.{n + 1}." if seq else f"transformer.h.{n}.")
        p.norm(mlc + "ln", src + "ln", bias=True)
        p.add(mlc + "mixer.Wqkv.weight", [src + "mixer.Wqkv.weight"], "linear", shard=(0, [q, k, k]))
        p.add(mlc + "mixer.Wqkv.bias", [src + "mixer.Wqkv.bias"], shard=(0, [q, k, k]))
        p.add(mlc + "mixer.out_proj.weight", [src + "mixer.out_proj.weight"], "linear", shard=(1, None))
        p.add(mlc + "mixer.out_proj.bias", [src + "mixer.out_proj.bias"])
        p.add(mlc + "mlp.fc1.weight", [src + "mlp.fc1.weight"], "linear", shard=(0, None))
        p.add(mlc + "mlp.fc1.bias", [src + "mlp.fc1.bias"], shard=(0, None))
        p.add(mlc + "mlp.fc2.weight", [src + "mlp.fc2.weight"], "linear", shard=(1, None))
        p.add(mlc + "mlp.fc2.bias", [src + "mlp.fc2.bias"])
        if seq:
            p.unused.add(src + "mixer.rotary_emb.inv_freq")
    head = f"layers.{layers + 1}." if seq else "lm_head."
    p.norm("lm_head.ln", head + "ln", bias=True)
    p.add("lm_head.linear.weight", [head + "linear.weight"], "linear", True)
    p.add("lm_head.linear.bias", [head + "linear.bias"])
    return p.done()


PARAMS = {
    "qwen3_5": qwen3_5,
    "qwen3_5_text": qwen3_5,
    "bert": bert,
    "bert-bge": bert,
    "ministral3": ministral3,
    "qwen": qwen,
    "orion": orion,
    "gptj": gptj,
    "phi-msft": phi_msft,
    "mixformer-sequential": phi_msft,
}
