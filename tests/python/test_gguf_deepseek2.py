"""GGUF input for DeepSeek-V2 / V3 (llama.cpp's `deepseek2`): tiny HF checkpoints (a dense layer
then an MoE layer with a shared expert; with and without q_lora_rank) are written to GGUF the way
llama.cpp's converter lays them out: gguf-py's own tensor-name map, the expert stacks, and
kv_b_proj either whole (older converters) or split per head into attn_k_b (each head transposed)
and attn_v_b (newer ones), with the metadata each wrote. weightcast must read the GGUF back as
that checkpoint: F32 / F16 files give its exact bytes, a Q8_0 file what the oracle makes of
gguf-py's dequantization."""
import json
import re

import numpy as np
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import assert_error, assert_same_files, run_cli

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed")
import gguf_writer_util as gw  # noqa: E402  (needs gguf)

T = gw.T
EXPERT = re.compile(r"model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(\w+)\.weight")

# case: (fixture, extra make() arguments, the MLC model type the GGUF maps to)
CASES = {
    "v2": ("deepseek_v2", {}, "deepseek_v2"),  # no q LoRA, softmax, greedy
    "v3": ("deepseek_v3", {}, "deepseek_v3"),  # q LoRA, sigmoid, noaux_tc with its correction bias
    "v3-bias": ("deepseek_v3-bias", {}, "deepseek_v3"),  # attention biases
}


class KvBPart(gw.Entry):
    """One half of the converter's kv_b_proj split: [heads, nope + v, rank] per head cut into
    k_b = the nope rows transposed ([heads, rank, nope]) and v_b = the v rows ([heads, v, rank])."""

    def __init__(self, gguf_name, hf, part, cfg):
        super().__init__(gguf_name, hf)
        self.part, self.cfg = part, cfg

    def forward(self, arrays):
        c = self.cfg
        kv = arrays[self.hf[0]].astype(np.float32).reshape(c["num_attention_heads"], -1, c["kv_lora_rank"])
        nope = c["qk_nope_head_dim"]
        return kv[:, :nope].transpose(0, 2, 1) if self.part == "k" else kv[:, nope:]


def join_kv_b(k_b, v_b):
    """kv_b_proj from gguf-py's k_b and v_b, per head: nope rows (k_b transposed back), then v."""
    return np.concatenate([k_b.transpose(0, 2, 1), v_b], axis=1).reshape(-1, k_b.shape[1])


def layout(cfg, order, split):
    """The GGUF tensors convert_hf_to_gguf.py's DeepseekV2Model writes, in its order: names by
    gguf-py's map; each layer's expert stacks (down, gate, up) once its last expert is seen;
    kv_b_proj whole or as k_b then v_b; e_score_correction_bias as exp_probs_b.bias."""
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.DEEPSEEK2, cfg["num_hidden_layers"])
    n_exp = cfg["n_routed_experts"]
    entries, pending = [], {}
    for name in order:
        m = EXPERT.match(name)
        if m:
            layer = pending.setdefault(m[1], {})
            layer[m[3], int(m[2])] = name
            if len(layer) == 3 * n_exp:
                for p in ("down_proj", "gate_proj", "up_proj"):
                    g = names.get_name(f"model.layers.{m[1]}.mlp.experts.{p}")
                    entries.append(gw.Entry(g + ".weight", [layer[p, e] for e in range(n_exp)], how="stack"))
            continue
        if name.endswith("e_score_correction_bias"):
            entries.append(gw.Entry(names.get_name(name.replace("_bias", "")) + ".bias", name))
            continue
        module, suffix = name.rsplit(".", 1)
        g = names.get_name(module)
        assert g, name
        if split and module.endswith("kv_b_proj"):
            for part in ("k", "v"):
                k = names.get_name(module.replace("kv_b_proj", f"{part}_b_proj"))
                entries.append(KvBPart(f"{k}.{suffix}", name, part, cfg))
            continue
        entries.append(gw.Entry(f"{g}.{suffix}", name, f32=g.endswith("ffn_gate_inp")))
    return entries


def metadata(cfg, split, yarn=False, mla_keys=True):
    """What the converter writes. The newer one (split) describes llama.cpp's MQA form in
    key_length / value_length / head_count_kv and the HF sizes in the *_mla keys; the older one
    has the HF sizes in key_length / value_length and no gating function for V2."""
    def kv(w):
        rank, rope = cfg["kv_lora_rank"], cfg["qk_rope_head_dim"]
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(cfg["num_attention_heads"])
        w.add_rope_freq_base(cfg["rope_theta"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_leading_dense_block_count(cfg["first_k_dense_replace"])
        w.add_vocab_size(cfg["vocab_size"])
        if cfg.get("q_lora_rank"):
            w.add_q_lora_rank(cfg["q_lora_rank"])
        w.add_kv_lora_rank(rank)
        if split:
            w.add_head_count_kv(1)
            w.add_key_length(rank + rope)
            w.add_value_length(rank)
            if mla_keys:
                w.add_key_length_mla(cfg["qk_nope_head_dim"] + rope)
                w.add_value_length_mla(cfg["v_head_dim"])
        else:
            w.add_head_count_kv(cfg["num_key_value_heads"])
            w.add_key_length(cfg["qk_nope_head_dim"] + rope)
            w.add_value_length(cfg["v_head_dim"])
        w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
        w.add_expert_count(cfg["n_routed_experts"])
        w.add_expert_used_count(cfg["num_experts_per_tok"])
        w.add_expert_shared_count(cfg["n_shared_experts"])
        w.add_expert_weights_scale(cfg["routed_scaling_factor"])
        if cfg["norm_topk_prob"]:
            w.add_expert_weights_norm(True)
        if split or cfg["scoring_func"] == "sigmoid":
            w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID if cfg["scoring_func"] == "sigmoid"
                                     else gguf.ExpertGatingFuncType.SOFTMAX)
        if cfg["n_group"] > 1:
            w.add_expert_group_count(cfg["n_group"])
            w.add_expert_group_used_count(cfg["topk_group"])
        w.add_rope_dimension_count(rope)
        if yarn:
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(40.0)
            w.add_rope_scaling_orig_ctx_len(64)
            w.add_rope_scaling_yarn_log_mul(0.0707)
    return kv


def make_case(case, base, split, qtype=T.F32, yarn=False, mla_keys=True):
    """(HF float32 checkpoint dir, GGUF path, entries, config, order)."""
    fixture, extra, _ = CASES[case]
    make_arch_fixtures.make(fixture, str(base / "bf16"), **extra)
    cfg, order, arrays = gw.read_hf(str(base / "bf16"))
    gw.write_hf(base / "hf", cfg, arrays, order)
    entries = layout(cfg, order, split)
    path = gw.write_gguf(base / f"{case}.gguf", "deepseek2", entries, arrays, qtype, kv=metadata(cfg, split, yarn, mla_keys),
                         n_tokens=cfg["vocab_size"])
    return base / "hf", path, entries, cfg, order


FORMS = {"split": True, "whole": False}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("qtype", [T.F32, T.F16], ids=["F32", "F16"])
def test_float_gguf_equals_the_hf_checkpoint(weightcast_bin, tmp_path, case, form, qtype):
    hf, path, entries, _, _ = make_case(case, tmp_path, FORMS[form], qtype, yarn=case == "v3")
    written = {t.name for t in gguf.GGUFReader(str(path)).tensors}
    assert ("blk.0.attn_k_b.weight" in written) == FORMS[form]
    assert ("blk.0.attn_kv_b.weight" in written) != FORMS[form]
    assert ("blk.1.exp_probs_b.bias" in written) == case.startswith("v3")
    schemes = ["q0f16", "q4f16_1"] if qtype == T.F32 else ["q0f16"]
    for scheme in schemes:
        run_cli(weightcast_bin, "convert", hf, "--quantization", scheme, "-o", tmp_path / f"hf-{scheme}")
        proc = run_cli(weightcast_bin, "convert", path, "--quantization", scheme, "-o", tmp_path / f"g-{scheme}")
        assert "Unused extern parameters" not in proc.stdout
        assert_same_files(tmp_path / f"hf-{scheme}", tmp_path / f"g-{scheme}")


def test_split_file_without_the_mla_keys_takes_the_sizes_from_k_b_and_v_b(weightcast_bin, tmp_path):
    """key_length / value_length there are rank + rope and rank (the MQA form), no head sizes."""
    hf, path, _, _, _ = make_case("v3", tmp_path, True, T.F16, mla_keys=False)
    keys = gguf.GGUFReader(str(path)).fields
    assert "deepseek2.attention.key_length_mla" not in keys and "deepseek2.attention.key_length" in keys
    run_cli(weightcast_bin, "convert", hf, "--quantization", "q0f16", "-o", tmp_path / "hf-out")
    run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "g-out")
    assert_same_files(tmp_path / "hf-out", tmp_path / "g-out")


def test_split_kv_b_model_matches_the_converter():
    """The tests' model of the split, checked on its own: k_b and v_b join back into kv_b_proj."""
    cfg = {"num_attention_heads": 3, "kv_lora_rank": 5, "qk_nope_head_dim": 2}
    kv_b = np.arange(3 * (2 + 4) * 5, dtype=np.float32).reshape(3 * 6, 5)
    k_b = KvBPart("k", "x", "k", cfg).forward({"x": kv_b})
    v_b = KvBPart("v", "x", "v", cfg).forward({"x": kv_b})
    assert k_b.shape == (3, 5, 2) and v_b.shape == (3, 4, 5)
    np.testing.assert_array_equal(k_b[1, :, 0], kv_b[6])  # head 1's first nope row, as a column
    np.testing.assert_array_equal(v_b[2, 0], kv_b[2 * 6 + 2])
    np.testing.assert_array_equal(join_kv_b(k_b, v_b), kv_b)


def reference(tmp_path, path, entries, cfg, order):
    """The HF checkpoint a quantized GGUF stands for, from gguf-py's dequantization."""
    g = gw.dequantized(path)
    ref = {}
    for e in entries:
        if isinstance(e, KvBPart):
            if e.part == "k":
                ref[e.hf[0]] = join_kv_b(g[e.gguf], g[e.gguf.replace("attn_k_b", "attn_v_b")])
            continue
        ref.update(e.inverse(g[e.gguf], {}))
    gw.write_hf(tmp_path / "ref", cfg, ref, order)
    return tmp_path / "ref"


@pytest.mark.parametrize("case,form", [("v3", "split"), ("v2", "whole")])
def test_q8_0_gguf_equals_the_oracle_on_its_dequantization(weightcast_bin, tmp_path, case, form):
    """attn_k_b's rows (nope = 16 wide) fit no Q8_0 block and stay F16 while attn_v_b is Q8_0:
    kv_b_proj joins the two as float32."""
    _, path, entries, cfg, order = make_case(case, tmp_path, FORMS[form], T.Q8_0)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}
    assert "Q8_0" in types.values()
    if form == "split":
        assert types["blk.0.attn_k_b.weight"] == "F16" and types["blk.0.attn_v_b.weight"] == "Q8_0"
    ref = reference(tmp_path, path, entries, cfg, order)
    for scheme in ["q0f16", "q4f16_1"]:
        mlc_oracle.convert(str(ref), scheme, str(tmp_path / f"expected-{scheme}"))
        run_cli(weightcast_bin, "convert", path, "--quantization", scheme, "-o", tmp_path / f"g-{scheme}")
        assert_same_files(tmp_path / f"expected-{scheme}", tmp_path / f"g-{scheme}")


@pytest.mark.parametrize("case", ["v2", "v3"])
def test_inspect_names_the_mlc_model_type(weightcast_bin, tmp_path, case):
    _, path, _, _, _ = make_case(case, tmp_path, True)
    out = run_cli(weightcast_bin, "inspect", path).stdout
    assert f"architecture: deepseek2, MLC model type: {CASES[case][2]}\n" in out


def test_a_config_json_that_disagrees_is_named(weightcast_bin, tmp_path):
    _, path, _, cfg, _ = make_case("v2", tmp_path, True)
    cfg["kv_lora_rank"] = 64
    with open(tmp_path / "config.json", "w") as f:
        json.dump(cfg, f)
    assert_error(run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 "config.json: kv_lora_rank is 64 but the GGUF file", "says 32")
