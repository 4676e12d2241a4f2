"""The architecture cases added after make_arch_fixtures.py filled up (Ministral 3, Qwen v1,
Orion, GPT-J, Phi-msft), merged into its CASES. Each family's layout is a function of config.json
alone (LAYOUTS), so a checkpoint can be drawn for any config, such as the small ones real MLC's
parameter tables were exported for."""
from hf_checkpoint import attention, layer_norms, swiglu

H, I, V = 64, 96, 48  # hidden, intermediate, vocab: as make_arch_fixtures, whole q4 groups


def ministral3_text(cfg):
    """MLC's merge: text_config's fields over the top-level ones (tie_word_embeddings stays)."""
    text = {**cfg, **(cfg.get("text_config") or {})}
    if "tie_word_embeddings" in cfg:
        text["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    return text


def ministral3_layout(cfg, vision_tower=False):
    """Mistral3ForConditionalGeneration's language model (under language_model. when a vision
    tower is configured; `vision_tower` adds a few of the tower's own tensors, which MLC leaves
    unread with a warning) or a bare Ministral 3 text model."""
    c = ministral3_text(cfg)
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    t = {"model.embed_tokens.weight": (v, h)}
    for n in range(c["num_hidden_layers"]):
        attention(t, f"model.layers.{n}.self_attn.", c)
        swiglu(t, f"model.layers.{n}.mlp.", h, i)
        layer_norms(t, f"model.layers.{n}.", ("input_layernorm", "post_attention_layernorm"), h, False)
    t["model.norm.weight"] = (h,)
    if not c.get("tie_word_embeddings", False):
        t["lm_head.weight"] = (v, h)
    if "vision_config" not in c:
        return t
    t = {"language_model." + k: s for k, s in t.items()}
    if not vision_tower:
        return t
    vision = {"vision_tower.patch_conv.weight": (32, 3, 2, 2), "vision_tower.ln_pre.weight": (32,),
              "multi_modal_projector.linear_1.weight": (h, 32)}
    return {**vision, **t}


def ministral3(multimodal, tied):
    text = {"model_type": "ministral3", "hidden_size": H, "intermediate_size": I, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 32, "num_hidden_layers": 2, "rms_norm_eps": 1e-5,
            "vocab_size": V, "max_position_embeddings": 256, "hidden_act": "silu", "sliding_window": None,
            "rope_parameters": {"rope_theta": 1000000.0, "factor": 16.0, "mscale_all_dim": 1.0, "rope_type": "yarn"}}
    if multimodal:
        cfg = {"model_type": "ministral3", "text_config": text, "tie_word_embeddings": tied,
               "vision_config": {"model_type": "pixtral", "hidden_size": 32}, "spatial_merge_size": 2}
    else:
        cfg = {**text, "tie_word_embeddings": tied}
    return cfg, ministral3_layout(cfg)


def qwen_layout(cfg):
    """HF Qwen (v1): fused c_attn with a bias, MLP halves w1 / w2 of intermediate_size / 2 rows."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"] // 2, cfg["vocab_size"]
    t = {"transformer.wte.weight": (v, h)}
    for n in range(cfg["num_hidden_layers"]):
        l = f"transformer.h.{n}."
        t[l + "ln_1.weight"] = (h,)
        t[l + "attn.c_attn.weight"], t[l + "attn.c_attn.bias"] = (3 * h, h), (3 * h,)
        t[l + "attn.c_proj.weight"] = (h, h)
        t[l + "ln_2.weight"] = (h,)
        t[l + "mlp.w1.weight"], t[l + "mlp.w2.weight"], t[l + "mlp.c_proj.weight"] = (i, h), (i, h), (h, i)
    t["transformer.ln_f.weight"], t["lm_head.weight"] = (h,), (v, h)
    return t


def orion_layout(cfg):
    """Llama's names with LayerNorm biases; an lm_head always."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    t = {"model.embed_tokens.weight": (v, h)}
    for n in range(cfg["num_hidden_layers"]):
        attention(t, f"model.layers.{n}.self_attn.", cfg)
        swiglu(t, f"model.layers.{n}.mlp.", h, i)
        layer_norms(t, f"model.layers.{n}.", ("input_layernorm", "post_attention_layernorm"), h, True)
    layer_norms(t, "model.", ("norm",), h, True)
    t["lm_head.weight"] = (v, h)
    return t


def gptj_layout(cfg):
    """HF GPT-J: q/k/v/out_proj without biases, fc_in / fc_out and the head with them."""
    h, v = cfg["n_embd"], cfg["vocab_size"]
    i = cfg.get("n_inner") or 4 * h
    t = {"transformer.wte.weight": (v, h)}
    for n in range(cfg["n_layer"]):
        l = f"transformer.h.{n}."
        layer_norms(t, l, ("ln_1",), h, True)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[l + f"attn.{proj}.weight"] = (h, h)
        t[l + "mlp.fc_in.weight"], t[l + "mlp.fc_in.bias"] = (i, h), (i,)
        t[l + "mlp.fc_out.weight"], t[l + "mlp.fc_out.bias"] = (h, i), (h,)
    layer_norms(t, "transformer.", ("ln_f",), h, True)
    t["lm_head.weight"], t["lm_head.bias"] = (v, h), (v,)
    return t


def phi_msft_layout(cfg):
    """Microsoft's Phi-1.5 / Phi-2 names, or the sequential layers.N ones of mixformer-sequential."""
    h, v, layers = cfg["n_embd"], cfg["vocab_size"], cfg["n_layer"]
    i = cfg.get("n_inner") or 4 * h
    heads = cfg["n_head"]
    d = h // heads
    qkv = (heads + 2 * (cfg.get("n_head_kv") or heads)) * d
    seq = cfg["model_type"] == "mixformer-sequential"
    t = {("layers.0.wte.weight" if seq else "transformer.embd.wte.weight"): (v, h)}
    for n in range(layers):
        l = f"layers.{n + 1}." if seq else f"transformer.h.{n}."
        layer_norms(t, l, ("ln",), h, True)
        for name, shape in (("mixer.Wqkv", (qkv, h)), ("mixer.out_proj", (h, h)), ("mlp.fc1", (i, h)),
                            ("mlp.fc2", (h, i))):
            t[l + name + ".weight"], t[l + name + ".bias"] = shape, shape[:1]
    head = f"layers.{layers + 1}." if seq else "lm_head."
    layer_norms(t, head, ("ln",), h, True)
    t[head + "linear.weight"], t[head + "linear.bias"] = (v, h), (v,)
    return t


def qwen3_5_text(cfg):
    """MLC's Qwen35Config: text_config's fields over the top-level ones (tie_word_embeddings too)."""
    return {**cfg, **(cfg.get("text_config") or {})}


def qwen3_5_layout(cfg, extras=False):
    """Qwen3_5ForConditionalGeneration's language model (model.language_model., the head as
    lm_head): GatedDeltaNet layers, and every full_attention_interval-th layer gated attention
    (q_proj: query and gate per head). `extras` adds vision and MTP tensors MLC leaves unread."""
    c = qwen3_5_text(cfg)
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kh, vh = c.get("linear_num_key_heads", 16), c.get("linear_num_value_heads", 16)
    kd, vd = c.get("linear_key_head_dim", 128), c.get("linear_value_head_dim", 128)
    qkv, z = 2 * kh * kd + vh * vd, vh * vd
    heads, kv, d = c["num_attention_heads"], c["num_key_value_heads"], c.get("head_dim", 256)
    m = "model.language_model."
    t = {m + "embed_tokens.weight": (v, h)}
    for n in range(c["num_hidden_layers"]):
        l = f"{m}layers.{n}."
        if (n + 1) % c.get("full_attention_interval", 4) == 0:
            a = l + "self_attn."
            t.update({a + "q_proj.weight": (2 * heads * d, h), a + "k_proj.weight": (kv * d, h),
                      a + "v_proj.weight": (kv * d, h), a + "o_proj.weight": (h, heads * d),
                      a + "q_norm.weight": (d,), a + "k_norm.weight": (d,)})
        else:
            a = l + "linear_attn."
            t.update({a + "in_proj_qkv.weight": (qkv, h), a + "in_proj_z.weight": (z, h),
                      a + "in_proj_a.weight": (vh, h), a + "in_proj_b.weight": (vh, h),
                      a + "out_proj.weight": (h, z), a + "conv1d.weight": (qkv, 1, c.get("linear_conv_kernel_dim", 4)),
                      a + "A_log": (vh,), a + "dt_bias": (vh,), a + "norm.weight": (vd,)})
        swiglu(t, l + "mlp.", h, i)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), h, False)
    t[m + "norm.weight"] = (h,)
    if not c.get("tie_word_embeddings", False):
        t["lm_head.weight"] = (v, h)
    if extras:
        t.update({"model.visual.patch_embed.proj.weight": (32, 3, 2, 16, 16), "model.visual.blocks.0.norm1.weight": (32,),
                  "mtp.fc.weight": (h, 2 * h), "mtp.norm.weight": (h,)})
    return t


def qwen3_5(multimodal, tied):
    text = {"model_type": "qwen3_5_text", "hidden_size": H, "intermediate_size": I, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "num_hidden_layers": 4, "full_attention_interval": 2,
            "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 16,
            "linear_value_head_dim": 16, "linear_conv_kernel_dim": 4, "rms_norm_eps": 1e-6, "vocab_size": V,
            "max_position_embeddings": 256, "hidden_act": "silu", "attention_bias": False,
            "layer_types": ["linear_attention", "full_attention"] * 2, "tie_word_embeddings": tied,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25}}
    if not multimodal:
        return text, qwen3_5_layout(text)
    cfg = {"model_type": "qwen3_5", "text_config": text, "tie_word_embeddings": not tied,
           "vision_config": {"model_type": "qwen3_5", "hidden_size": 32, "depth": 1}, "image_token_id": 40}
    return cfg, qwen3_5_layout(cfg)


def bert_layout(cfg, pooler=None):
    """HF BertModel's names (no prefix); BGE releases (and `pooler`) add the pooler, and BGE's
    position_ids, which bert-bge declares unused."""
    h, v, layers = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    i = cfg.get("intermediate_size") or 4 * h
    t = {"embeddings.word_embeddings.weight": (v, h),
         "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
         "embeddings.token_type_embeddings.weight": (cfg.get("type_vocab_size", 2), h),
         "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,)}
    for n in range(layers):
        l = f"encoder.layer.{n}."
        for name, shape in (("attention.self.query", (h, h)), ("attention.self.key", (h, h)),
                            ("attention.self.value", (h, h)), ("attention.output.dense", (h, h)),
                            ("intermediate.dense", (i, h)), ("output.dense", (h, i))):
            t[l + name + ".weight"], t[l + name + ".bias"] = shape, shape[:1]
        layer_norms(t, l, ("attention.output.LayerNorm", "output.LayerNorm"), h, True)
    if pooler or (pooler is None and cfg["model_type"] == "bert-bge"):
        t["pooler.dense.weight"], t["pooler.dense.bias"] = (h, h), (h,)
    if cfg["model_type"] == "bert-bge":
        t["embeddings.position_ids"] = (1, cfg["max_position_embeddings"])
    return t


def bert(model_type):
    cfg = {"model_type": model_type, "architectures": ["BertModel"], "hidden_size": H, "intermediate_size": I,
           "num_attention_heads": 4, "num_hidden_layers": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
           "max_position_embeddings": 40, "type_vocab_size": 2, "vocab_size": V, "pad_token_id": 0,
           "position_embedding_type": "absolute"}
    return cfg, bert_layout(cfg)


def qwen():
    cfg = {"model_type": "qwen", "hidden_size": H, "intermediate_size": 2 * I, "num_attention_heads": 4,
           "kv_channels": 16, "num_hidden_layers": 2, "layer_norm_epsilon": 1e-6, "vocab_size": V,
           "max_position_embeddings": 256, "seq_length": 256, "rotary_emb_base": 10000, "rotary_pct": 1.0,
           "scale_attn_weights": True, "no_bias": True, "tie_word_embeddings": False}
    return cfg, qwen_layout(cfg)


def orion():
    cfg = {"model_type": "orion", "hidden_size": H, "intermediate_size": I, "num_attention_heads": 4,
           "num_key_value_heads": 2, "num_hidden_layers": 2, "rms_norm_eps": 1e-5, "vocab_size": V,
           "max_position_embeddings": 256, "max_sequence_length": 256, "hidden_act": "silu", "rope_theta": 10000.0,
           "tie_word_embeddings": False}
    return cfg, orion_layout(cfg)


def gptj():
    cfg = {"model_type": "gptj", "n_embd": H, "n_head": 4, "n_layer": 2, "n_inner": None, "n_positions": 256,
           "rotary_dim": 8, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "vocab_size": V,
           "tie_word_embeddings": False}
    return cfg, gptj_layout(cfg)


def phi_msft(model_type, kv_heads=None):
    cfg = {"model_type": model_type, "n_embd": H, "n_head": 4, "n_head_kv": kv_heads, "n_inner": None,
           "n_layer": 2, "n_positions": 256, "rotary_dim": 8, "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-5, "vocab_size": V}
    return cfg, phi_msft_layout(cfg)


LAYOUTS = {
    "qwen3_5": qwen3_5_layout,
    "qwen3_5_text": qwen3_5_layout,
    "bert": bert_layout,
    "bert-bge": bert_layout,
    "ministral3": ministral3_layout,
    "qwen": qwen_layout,
    "orion": orion_layout,
    "gptj": gptj_layout,
    "phi-msft": phi_msft_layout,
}

CASES = {
    "qwen3_5": lambda: qwen3_5(multimodal=True, tied=False),
    "qwen3_5_text": lambda: qwen3_5(multimodal=False, tied=True),
    "bert": lambda: bert("bert"),
    "bert-bge": lambda: bert("bert-bge"),
    "ministral3": lambda: ministral3(multimodal=True, tied=True),
    "ministral3-text": lambda: ministral3(multimodal=False, tied=False),
    "qwen": qwen,
    "orion": orion,
    "gptj": gptj,
    "phi-msft": lambda: phi_msft("phi-msft", kv_heads=2),
    "mixformer-sequential": lambda: phi_msft("mixformer-sequential"),
}
