"""The oracle's mappings for the model types added after arch_oracle.py filled up (merged into its
PARAMS): Ministral 3, Qwen v1, Orion, GPT-J and Phi-msft, from MLC-LLM's public model/loader facts."""
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


PARAMS = {
    "ministral3": ministral3,
}
