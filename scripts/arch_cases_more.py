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


LAYOUTS = {
    "ministral3": ministral3_layout,
}

CASES = {
    "ministral3": lambda: ministral3(multimodal=True, tied=True),
    "ministral3-text": lambda: ministral3(multimodal=False, tied=False),
}
