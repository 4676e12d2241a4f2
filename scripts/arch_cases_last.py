"""The last MLC model types' cases (Phi-3-vision, Llama 4, LLaVA, RWKV v5 / v6, EAGLE, Medusa):
config.json and the HF tensors (names and shapes) of a tiny checkpoint for each; `make` writes
one, seeded, in bfloat16. Phi-3-vision's CLIP tower has MLC's fixed ViT-L/14-336 size (MLC
ignores any vision_config), so that case is written tensor by tensor (~600 MB)."""
import os

import numpy as np

from hf_checkpoint import attention, layer_norms, swiglu, write_bf16_streamed

H, I, V = 64, 96, 48  # hidden, intermediate, vocab: whole q4 groups, as make_arch_fixtures


def clip_layout(prefix, hidden, inter, layers, image, patch, channels=3):
    """HF's CLIPVisionModel tensors under `prefix` (e.g. "vision_tower.")."""
    v = prefix + "vision_model."
    t = {v + "embeddings.class_embedding": (hidden,),
         v + "embeddings.patch_embedding.weight": (hidden, channels, patch, patch),
         v + "embeddings.position_embedding.weight": ((image // patch) ** 2 + 1, hidden)}
    layer_norms(t, v, ("pre_layrnorm",), hidden, True)
    for n in range(layers):
        l = f"{v}encoder.layers.{n}."
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[l + f"self_attn.{p}.weight"], t[l + f"self_attn.{p}.bias"] = (hidden, hidden), (hidden,)
        t[l + "mlp.fc1.weight"], t[l + "mlp.fc1.bias"] = (inter, hidden), (inter,)
        t[l + "mlp.fc2.weight"], t[l + "mlp.fc2.bias"] = (hidden, inter), (hidden,)
        layer_norms(t, l, ("layer_norm1", "layer_norm2"), hidden, True)
    layer_norms(t, v, ("post_layernorm",), hidden, True)
    return t


def llama_layout(cfg, prefix="model.", lm_head="lm_head.weight"):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    t = {prefix + "embed_tokens.weight": (v, h)}
    for n in range(cfg["num_hidden_layers"]):
        attention(t, f"{prefix}layers.{n}.self_attn.", cfg)
        swiglu(t, f"{prefix}layers.{n}.mlp.", h, i)
        layer_norms(t, f"{prefix}layers.{n}.", ("input_layernorm", "post_attention_layernorm"), h, False)
    t[prefix + "norm.weight"] = (h,)
    if lm_head and not cfg.get("tie_word_embeddings", False):
        t[lm_head] = (v, h)
    return t


def phi3_v_layout(cfg):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    q = cfg["hidden_size"] // cfg["num_attention_heads"] * (cfg["num_attention_heads"] + 2 * cfg["num_key_value_heads"])
    dim = cfg["img_processor"]["image_dim_out"]
    t = {"model.embed_tokens.weight": (v, h)}
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        t[l + "self_attn.qkv_proj.weight"], t[l + "self_attn.o_proj.weight"] = (q, h), (h, h)
        t[l + "mlp.gate_up_proj.weight"], t[l + "mlp.down_proj.weight"] = (2 * i, h), (h, i)
        layer_norms(t, l, ("input_layernorm", "post_attention_layernorm"), h, False)
    t["model.norm.weight"], t["lm_head.weight"] = (h,), (v, h)
    e = "model.vision_embed_tokens."
    t.update(clip_layout(e + "img_processor.", 1024, 4096, 24, 336, 14))
    t[e + "glb_GN"], t[e + "sub_GN"] = (1, 1, 4 * dim), (1, 1, 1, 4 * dim)
    t[e + "img_projection.0.weight"], t[e + "img_projection.0.bias"] = (h, 4 * 1024), (h,)
    t[e + "img_projection.2.weight"], t[e + "img_projection.2.bias"] = (h, h), (h,)
    return t


def phi3_v():
    cfg = {"model_type": "phi3_v", "architectures": ["Phi3VForCausalLM"], "hidden_size": H,
           "intermediate_size": I, "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2,
           "max_position_embeddings": 256, "original_max_position_embeddings": 256, "rms_norm_eps": 1e-5,
           "vocab_size": V, "rope_scaling": None, "rope_theta": 10000.0, "hidden_act": "silu",
           "tie_word_embeddings": False,
           "img_processor": {"image_dim_out": 1024, "model_name": "openai/clip-vit-large-patch14-336",
                             "name": "clip_vision_model", "num_img_tokens": 144},
           "embd_layer": {"embedding_cls": "image", "projection_cls": "mlp", "use_hd_transform": True,
                          "with_learnable_separator": True}}
    return cfg, phi3_v_layout(cfg)


def llama4_layout(cfg):
    c = cfg["text_config"]
    h, i, v, e = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_local_experts"]
    t = {}
    for name, shape in llama_layout({**c, "tie_word_embeddings": True}, lm_head=None).items():
        if ".mlp." not in name:
            t["language_model." + name] = shape
    for n in range(c["num_hidden_layers"]):
        f = f"language_model.model.layers.{n}.feed_forward."
        t[f + "experts.gate_up_proj"], t[f + "experts.down_proj"] = (e, h, 2 * i), (e, i, h)
        t[f + "router.weight"] = (e, h)
        swiglu(t, f + "shared_expert.", h, i)
    if not c.get("tie_word_embeddings", False):
        t["language_model.lm_head.weight"] = (v, h)
    return t


def llama4():
    text = {"model_type": "llama4_text", "hidden_size": H, "intermediate_size": I, "intermediate_size_mlp": 2 * I,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "num_hidden_layers": 2,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "use_qk_norm": True, "interleave_moe_layer_step": 1,
            "num_experts_per_tok": 1, "num_local_experts": 4, "hidden_act": "silu", "vocab_size": V,
            "max_position_embeddings": 256, "attention_bias": False, "tie_word_embeddings": False,
            "rope_scaling": {"factor": 16.0, "high_freq_factor": 1.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
    cfg = {"model_type": "llama4", "architectures": ["Llama4ForConditionalGeneration"], "text_config": text,
           "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 32}, "tie_word_embeddings": False}
    return cfg, llama4_layout(cfg)


def llava_layout(cfg):
    vc = cfg["vision_config"]
    t = clip_layout("vision_tower.", vc["hidden_size"], vc["intermediate_size"], vc["num_hidden_layers"],
                    vc["image_size"], vc["patch_size"])
    h = cfg["text_config"]["hidden_size"]
    p = "multi_modal_projector."
    t[p + "linear_1.weight"], t[p + "linear_1.bias"] = (h, vc["hidden_size"]), (h,)
    t[p + "linear_2.weight"], t[p + "linear_2.bias"] = (h, h), (h,)
    t.update(llama_layout(cfg["text_config"], "language_model.model.", "language_model.lm_head.weight"))
    return t


def llava():
    text = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": I,
            "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "rms_norm_eps": 1e-5,
            "max_position_embeddings": 256, "vocab_size": V}
    vision = {"model_type": "clip_vision_model", "hidden_size": 32, "image_size": 28, "intermediate_size": 64,
              "num_attention_heads": 2, "num_hidden_layers": 2, "patch_size": 14, "projection_dim": 32,
              "vocab_size": V, "layer_norm_eps": 1e-5}
    cfg = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"], "image_token_index": V - 1,
           "text_config": text, "vision_config": vision, "vocab_size": V, "tie_word_embeddings": False,
           "vision_feature_layer": -2, "vision_feature_select_strategy": "default"}
    return cfg, llava_layout(cfg)


def rwkv_layout(cfg):
    version = 5 if cfg["model_type"] == "rwkv5" else 6
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    heads = h // cfg.get("head_size", 64)
    inter = (cfg.get("intermediate_size") or int(h * 3.5) // 32 * 32) if version == 5 else h // 2 * 7
    t = {"rwkv.embeddings.weight": (v, h)}
    mix = (1, 1, h)
    for n in range(cfg["num_hidden_layers"]):
        b = f"rwkv.blocks.{n}."
        layer_norms(t, b, (("pre_ln", "ln1", "ln2") if n == 0 else ("ln1", "ln2")), h, True)
        a = b + "attention."
        if version == 5:
            t[a + "time_decay"], t[a + "time_faaaa"] = (heads, h // heads), (heads, h // heads)
            for m in ("gate", "key", "value", "receptance"):
                t[a + "time_mix_" + m] = mix
        else:
            for m in "xwkvrg":
                t[a + "time_maa_" + m] = mix
            t[a + "time_maa_w1"], t[a + "time_maa_w2"] = (h, 160), (5, 32, h)
            t[a + "time_decay_w1"], t[a + "time_decay_w2"] = (h, 64), (64, h)
            t[a + "time_decay"], t[a + "time_faaaa"] = mix, (heads, h // heads)
        for p in ("key", "value", "receptance", "gate", "output"):
            t[a + p + ".weight"] = (h, h)
        layer_norms(t, a, ("ln_x",), h, True)
        f = b + "feed_forward."
        t[f + ("time_mix_key" if version == 5 else "time_maa_k")] = mix
        t[f + ("time_mix_receptance" if version == 5 else "time_maa_r")] = mix
        t[f + "key.weight"], t[f + "receptance.weight"], t[f + "value.weight"] = (inter, h), (h, h), (h, inter)
    layer_norms(t, "rwkv.", ("ln_out",), h, True)
    t["head.weight"] = (v, h)
    return t


def rwkv(version):
    cfg = {"model_type": f"rwkv{version}", "architectures": ["RwkvForCausalLM" if version == 5 else "Rwkv6ForCausalLM"],
           "model_version": "5_2" if version == 5 else "6_0", "hidden_size": H, "attention_hidden_size": H,
           "intermediate_size": None, "head_size": 16, "num_hidden_layers": 2, "vocab_size": V,
           "layer_norm_epsilon": 1e-5, "rescale_every": 1, "context_length": 256, "tie_word_embeddings": False}
    return cfg, rwkv_layout(cfg)


def eagle_layout(cfg):
    t = {k: s for k, s in llama_layout(cfg, prefix="", lm_head=None).items()
         if k not in ("norm.weight", "layers.0.input_layernorm.weight")}
    h = cfg["hidden_size"]
    t["fc.weight"] = (h, 2 * h)
    if cfg.get("bias", True):
        t["fc.bias"] = (h,)
    return t


def eagle():
    cfg = {"model_type": "eagle", "architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": I,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "rms_norm_eps": 1e-5,
           "max_position_embeddings": 256, "vocab_size": V, "hidden_act": "silu", "tie_word_embeddings": False,
           "bias": True}
    return cfg, eagle_layout(cfg)


def medusa_layout(cfg):
    h, v, layers = cfg["hidden_size"], cfg["vocab_size"], cfg["medusa_num_layers"]
    t = {}
    for n in range(cfg["medusa_num_heads"]):
        for l in range(layers):
            t[f"medusa_head.{n}.{l}.linear.weight"], t[f"medusa_head.{n}.{l}.linear.bias"] = (h, h), (h,)
        t[f"medusa_head.{n}.{layers}.weight"] = (v, h)
    return t


def medusa():
    cfg = {"model_type": "medusa", "architectures": ["MedusaModel"], "hidden_size": H, "vocab_size": V,
           "medusa_num_heads": 2, "medusa_num_layers": 1, "base_model_name_or_path": "synthetic/tiny-llama"}
    return cfg, medusa_layout(cfg)


CASES = {
    "phi3_v": phi3_v,
    "llama4": llama4,
    "llava": llava,
    "rwkv5": lambda: rwkv(5),
    "rwkv6": lambda: rwkv(6),
    "eagle": eagle,
    "medusa": medusa,
}


def make(case, out_dir, seed=0, config_overrides=None):
    """Writes the case's checkpoint (bf16, seeded N(0, 0.02)); returns its config."""
    cfg, shapes = CASES[case]()
    cfg.update(config_overrides or {})
    write_bf16_streamed(out_dir, cfg, shapes, seed=seed + sum(map(ord, case)))
    return cfg


if __name__ == "__main__":
    import sys
    for case in sys.argv[2:] or CASES:
        make(case, os.path.join(sys.argv[1], case))
