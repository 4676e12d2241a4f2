"""The oracle's mappings for the last model types (merged into arch_oracle.PARAMS): Phi-3-vision,
Llama 4, LLaVA, RWKV v5 / v6, EAGLE and Medusa, from MLC-LLM's public model/loader facts."""
import numpy as np

from arch_oracle import Params, heads


def clip(p, mlc, hf, layers):
    """CLIP's vision tower, one to one; MLC never quantizes it ("other")."""
    names = ["embeddings.class_embedding", "embeddings.patch_embedding.weight",
             "embeddings.position_embedding.weight", "pre_layrnorm.weight", "pre_layrnorm.bias"]
    for n in range(layers):
        l = f"encoder.layers.{n}."
        names += [l + f"self_attn.{x}.{y}" for x in ("k_proj", "v_proj", "q_proj", "out_proj") for y in ("weight", "bias")]
        names += [l + f"{x}.{y}" for x in ("layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2") for y in ("weight", "bias")]
    names += ["post_layernorm.weight", "post_layernorm.bias"]
    for name in names:
        p.add(mlc + "vision_model." + name, [hf + "vision_model." + name])


def phi3_v(cfg, t=1):
    """Phi-3 under model.h.N (HF's fused qkv_proj / gate_up_proj), an lm_head always, CLIP
    ViT-L/14-336 (24 layers, whatever the config), glb_GN / sub_GN and img_projection.0 / .2
    as linear_1 / linear_2; vision tensors under model.vision_embed_tokens."""
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("model.embd.weight", ["model.embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        hf, mlc = f"model.layers.{n}.", f"model.h.{n}."
        p.norm(mlc + "ln", hf + "input_layernorm")
        p.linear(mlc + "mixer.qkv_proj", [hf + "self_attn.qkv_proj"], shard=(0, [q, k, k]))
        p.linear(mlc + "mixer.out_proj", [hf + "self_attn.o_proj"], shard=(1, None))
        p.linear(mlc + "mlp.gate_up_proj", [hf + "mlp.gate_up_proj"], shard=(0, [i, i]))
        p.linear(mlc + "mlp.down_proj", [hf + "mlp.down_proj"], shard=(1, None))
        p.norm(mlc + "post_attention_layernorm", hf + "post_attention_layernorm")
    p.norm("model.norm")
    p.add("lm_head.weight", ["lm_head.weight"], "linear", True)
    v, hv = "vision_embed_tokens.", "model.vision_embed_tokens."
    clip(p, v + "img_processor.", hv + "img_processor.", 24)
    p.add(v + "glb_GN", [hv + "glb_GN"])
    p.add(v + "sub_GN", [hv + "sub_GN"])
    p.linear(v + "img_projection.linear_1", [hv + "img_projection.0"], bias=True)
    p.linear(v + "img_projection.linear_2", [hv + "img_projection.2"], bias=True)
    p.unused.add("model.embed_tokens.weight")  # read, yet declared unused: not counted
    return p.done()


def llama4(cfg, t=1):
    """text_config's model, every source under language_model.: q/k/v/o apart, experts kept as
    HF's [E, hidden, 2i] / [E, i, hidden] parameters ("other"), router.router from router,
    shared_expert gate|up fused."""
    c = cfg["text_config"]
    h, kv, d = heads(c)
    i = c["intermediate_size"] // t
    L = "language_model."
    p = Params()
    p.add("model.embed_tokens.weight", [L + "model.embed_tokens.weight"], "embedding")
    for n in range(c["num_hidden_layers"]):
        l = f"model.layers.{n}."
        a, f = l + "self_attn.", l + "feed_forward."
        for x in ("q_proj", "k_proj", "v_proj"):
            p.linear(a + x, [L + a + x], shard=(0, None))
        p.linear(a + "o_proj", [L + a + "o_proj"], shard=(1, None))
        p.add(f + "experts.gate_up_proj", [L + f + "experts.gate_up_proj"], shard=(2, [i, i]))
        p.add(f + "experts.down_proj", [L + f + "experts.down_proj"], shard=(1, None))
        p.linear(f + "router.router", [L + f + "router"], shard=(0, None))
        s = f + "shared_expert."
        p.linear(s + "gate_up_proj", [L + s + "gate_proj", L + s + "up_proj"], shard=(0, [i, i]))
        p.linear(s + "down_proj", [L + s + "down_proj"], shard=(1, None))
        p.norm(l + "input_layernorm", L + l + "input_layernorm")
        p.norm(l + "post_attention_layernorm", L + l + "post_attention_layernorm")
    p.norm("model.norm", L + "model.norm")
    if not c.get("tie_word_embeddings", False):
        p.add("lm_head.weight", [L + "lm_head.weight"], "linear", True)
    return p.done()


def llava(cfg, t=1):
    """CLIP tower (vision_config), projector, Llama under language_model. (q|k|v, gate|up fused);
    language_model.lm_head is no final fc to MLC."""
    c, vc = cfg["text_config"], cfg["vision_config"]
    p = Params()
    clip(p, "vision_tower.", "vision_tower.", vc["num_hidden_layers"])
    p.linear("multi_modal_projector.linear_1", ["multi_modal_projector.linear_1"], bias=True)
    p.linear("multi_modal_projector.linear_2", ["multi_modal_projector.linear_2"], bias=True)
    L = "language_model.model."
    p.add(L + "embed_tokens.weight", [L + "embed_tokens.weight"], "embedding")
    for n in range(c["num_hidden_layers"]):
        a, m, l = f"{L}layers.{n}.self_attn.", f"{L}layers.{n}.mlp.", f"{L}layers.{n}."
        p.linear(a + "qkv_proj", [a + "q_proj", a + "k_proj", a + "v_proj"])
        p.linear(a + "o_proj", [a + "o_proj"])
        p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"])
        p.linear(m + "down_proj", [m + "down_proj"])
        p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
        p.unused.add(a + "rotary_emb.inv_freq")
    p.norm(L + "norm")
    if not c.get("tie_word_embeddings", False):
        p.add("language_model.lm_head.weight", ["language_model.lm_head.weight"], "linear")
    return p.done()


def exp_neg_exp(x):
    """RWKV5's time_decay, as MLC's loader computes it: numpy's float32 exp, twice."""
    return np.exp(-np.exp(x.astype(np.float32)))


def halved(times):
    """MLC's x.astype(model dtype) / 2**t: rounded to the model dtype twice (subnormals differ)."""
    def fn(x, dtype):
        return x.astype(dtype) / (2 ** times)
    fn.in_model_dtype = True
    return fn


def rwkv(cfg, t=1):
    """rwkv. -> model., one to one; time_decay / time_faaaa / ln_x float32 (v5's time_decay
    through exp(-exp)); attention.output and feed_forward.value / 2^(layer // rescale_every)."""
    v5 = cfg["model_type"] == "rwkv5"
    every = cfg.get("rescale_every", 0)
    p = Params()
    p.add("model.embeddings.weight", ["rwkv.embeddings.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        m, r = f"model.blocks.{n}.", f"rwkv.blocks.{n}."
        for ln in (("pre_ln", "ln1", "ln2") if n == 0 else ("ln1", "ln2")):
            p.norm(m + ln, r + ln, bias=True)
        a, ra = m + "attention.", r + "attention."
        if v5:
            p.add(a + "time_decay", [ra + "time_decay"], "f32", fn=exp_neg_exp)
            p.add(a + "time_faaaa", [ra + "time_faaaa"], "f32")
            for x in ("gate", "key", "value", "receptance"):
                p.add(a + "time_mix_" + x, [ra + "time_mix_" + x])
        else:
            for x in ["time_maa_" + y for y in "xwkvrg"] + ["time_maa_w1", "time_maa_w2", "time_decay_w1",
                                                           "time_decay_w2"]:
                p.add(a + x, [ra + x])
            p.add(a + "time_decay", [ra + "time_decay"], "f32")
            p.add(a + "time_faaaa", [ra + "time_faaaa"], "f32")
        scale = halved(n // every) if every > 0 else None
        for x in ("key", "value", "receptance", "gate", "output"):
            p.linear(a + x, [ra + x], fn=scale if x == "output" else None)
        p.add(a + "ln_x.weight", [ra + "ln_x.weight"], "f32")
        p.add(a + "ln_x.bias", [ra + "ln_x.bias"], "f32")
        f, rf = m + "feed_forward.", r + "feed_forward."
        for x in (("time_mix_key", "time_mix_receptance") if v5 else ("time_maa_k", "time_maa_r")):
            p.add(f + x, [rf + x])
        for x in ("key", "receptance", "value"):
            p.linear(f + x, [rf + x], fn=scale if x == "value" else None)
    p.norm("model.ln_out", "rwkv.ln_out", bias=True)
    p.add("head.weight", ["head.weight"], "linear", True)
    return p.done()


def eagle(cfg, t=1):
    """Llama's layers under bare names, layer 0 without input_layernorm, no final norm or head,
    fc [hidden, 2 hidden] (+ bias) whole in every shard."""
    h, kv, d = heads(cfg)
    q, k, i = h // t * d, kv // t * d, cfg["intermediate_size"] // t
    p = Params()
    p.add("embed_tokens.weight", ["embed_tokens.weight"], "embedding")
    for n in range(cfg["num_hidden_layers"]):
        a, m, l = f"layers.{n}.self_attn.", f"layers.{n}.mlp.", f"layers.{n}."
        p.linear(a + "qkv_proj", [a + "q_proj", a + "k_proj", a + "v_proj"], shard=(0, [q, k, k]))
        p.linear(a + "o_proj", [a + "o_proj"], shard=(1, None))
        p.linear(m + "gate_up_proj", [m + "gate_proj", m + "up_proj"], shard=(0, [i, i]))
        p.linear(m + "down_proj", [m + "down_proj"], shard=(1, None))
        if n:
            p.norm(l + "input_layernorm")
        p.norm(l + "post_attention_layernorm")
        p.unused.add(a + "rotary_emb.inv_freq")
    p.linear("fc", ["fc"], bias=cfg.get("bias", True))
    return p.done()


def medusa(cfg, t=1):
    p = Params()
    for n in range(cfg["medusa_num_heads"]):
        for l in range(cfg["medusa_num_layers"]):
            p.linear(f"medusa_head.{n}.{l}.linear", [f"medusa_head.{n}.{l}.linear"], bias=True)
        p.linear(f"medusa_head.{n}.{cfg['medusa_num_layers']}", [f"medusa_head.{n}.{cfg['medusa_num_layers']}"])
    return p.done()


PARAMS = {
    "phi3_v": phi3_v,
    "llama4": llama4,
    "llava": llava,
    "rwkv5": rwkv,
    "rwkv6": rwkv,
    "eagle": eagle,
    "medusa": medusa,
}
