"""GGUF input for GPT-2, GPT-NeoX, StarCoder2, StableLM, OLMo, OLMo 2, InternLM2, Command-R and
MiniCPM: each tiny HF checkpoint is written to GGUF the way llama.cpp's converter lays it out
(gguf-py's own tensor-name map, the converter's transposes, regroupings, splits and q/k
permutations done here in numpy), and weightcast must read the GGUF back as that checkpoint.

F32 and F16 files must convert to the HF checkpoint's exact bytes. A Q8_0 file must convert to
what the oracle writes for gguf-py's dequantization of it, put back in HF layout."""
import json
import os

import numpy as np
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import assert_error, assert_same_files, run_cli
from hf_checkpoint import read_safetensors, write_checkpoint

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed")
A = gguf.MODEL_ARCH


def llama_permute(w, heads):
    """convert_hf_to_gguf's q/k row permutation: per head, the two halves interleaved."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def base_metadata(w, cfg, eps_key="layer_norm_eps"):
    """What llama.cpp's TextModel.set_gguf_parameters writes for a decoder."""
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg.get("num_key_value_heads", cfg["num_attention_heads"]))
    if "rope_theta" in cfg:
        w.add_rope_freq_base(cfg["rope_theta"])
    if "rms_norm_eps" in cfg:
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    for key in ("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"):
        if key in cfg:
            w.add_layer_norm_eps(cfg[key])
            break


def gpt2_metadata(w, cfg):
    w.add_block_count(cfg["n_layer"])
    w.add_context_length(cfg["n_positions"])
    w.add_embedding_length(cfg["n_embd"])
    w.add_feed_forward_length(4 * cfg["n_embd"])
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])


def neox_metadata(w, cfg, rotary_key):
    """GPT-NeoX's and StableLM's own set_gguf_parameters (no rope base)."""
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    w.add_rope_dimension_count(int(cfg[rotary_key] * head_dim))
    w.add_head_count(cfg["num_attention_heads"])
    if "num_key_value_heads" in cfg:
        w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_parallel_residual(cfg.get("use_parallel_residual", True))
    w.add_layer_norm_eps(cfg["layer_norm_eps"])


def olmo_metadata(w, cfg):
    base_metadata(w, cfg)
    w.add_layer_norm_eps(1e-5)
    if "clip_qkv" in cfg:
        w.add_clamp_kqv(cfg["clip_qkv"])


def minicpm_metadata(w, cfg):
    base_metadata(w, cfg)
    w.add_embedding_scale(float(cfg["scale_emb"]))
    w.add_residual_scale(cfg["scale_depth"] / cfg["num_hidden_layers"] ** 0.5)
    w.add_logit_scale(cfg["hidden_size"] / cfg["dim_model_base"])


def baichuan_metadata(w, cfg):
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg.get("num_key_value_heads", cfg["num_attention_heads"]))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])


def nemotron_metadata(w, cfg):
    base_metadata(w, cfg)
    w.add_vocab_size(cfg["vocab_size"])
    w.add_layer_norm_eps(cfg["norm_eps"])
    w.add_rope_dimension_count(int(cfg["partial_rotary_factor"] * cfg["hidden_size"]) // cfg["num_attention_heads"])


def chatglm_metadata(w, cfg):
    w.add_context_length(cfg["seq_length"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["ffn_hidden_size"])
    w.add_block_count(cfg["num_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["multi_query_group_num"])
    w.add_layer_norm_rms_eps(cfg["layernorm_epsilon"])
    w.add_rope_dimension_count(int(cfg["hidden_size"] // cfg["num_attention_heads"] * 0.5))
    w.add_rope_freq_base(10000)


def cohere_metadata(w, cfg):
    base_metadata(w, cfg)
    w.add_logit_scale(cfg["logit_scale"])


# ---- the converter's tensor transforms (HF name, array) -> [(HF-ish name, array)] ---------


def gpt2_tensors(name, a, cfg):
    if name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
        a = a.T
    return [(name, a)]


def neox_tensors(name, a, cfg):
    if name.endswith("query_key_value.weight") or name.endswith("query_key_value.bias"):
        heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
        per_head = a.reshape(heads, 3, hidden // heads, *a.shape[1:])
        a = np.concatenate([per_head[:, k].reshape(hidden, *a.shape[1:]) for k in range(3)], axis=0)
    return [(name, a)]


def permuting_tensors(name, a, cfg):
    """OLMo's and MiniCPM's modify_tensors: Llama's q/k permutation, weights only."""
    if name.endswith("q_proj.weight"):
        a = llama_permute(a, cfg["num_attention_heads"])
    if name.endswith("k_proj.weight"):
        a = llama_permute(a, cfg["num_key_value_heads"])
    return [(name, a)]


def internlm2_tensors(name, a, cfg):
    if not name.endswith("attention.wqkv.weight"):
        return [(name, a)]
    heads, kv, hidden = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    per_kv, head_dim = heads // kv, hidden // heads
    qkv = a.reshape(kv, per_kv + 2, head_dim, hidden)
    q = llama_permute(qkv[:, :per_kv].reshape(-1, hidden), heads)
    k = llama_permute(qkv[:, -2].reshape(-1, hidden), kv)
    v = qkv[:, -1].reshape(-1, hidden)
    bid = int(name.split(".")[2])
    return [(f"@{t}:{bid}", x) for t, x in (("ATTN_Q", q), ("ATTN_K", k), ("ATTN_V", v))]


def baichuan_tensors(name, a, cfg):
    if not name.endswith("self_attn.W_pack.weight"):
        return [(name, a)]
    heads, third = cfg["num_attention_heads"], a.shape[0] // 3
    q, k, v = (a[third * p : third * (p + 1)] for p in range(3))
    bid = int(name.split(".")[2])
    return [(f"@{t}:{bid}", x) for t, x in (("ATTN_Q", llama_permute(q, heads)), ("ATTN_K", llama_permute(k, heads)),
                                             ("ATTN_V", v))]


def nemotron_tensors(name, a, cfg):
    """layernorm1p: llama.cpp stores every norm weight + 1 (here in float32, as from an F32
    checkpoint; index arrays pass through unchanged)."""
    if name.endswith("norm.weight") and a.dtype == np.float32:
        a = a + np.float32(1)
    return [(name, a)]


def chatglm_tensors(name, a, cfg):
    """ChatGLM's filter_tensors: the "transformer." prefix goes before the name map."""
    return [(name.removeprefix("transformer."), a)]


def same(name, a, cfg):
    return [(name, a)]


# fixture case -> (llama.cpp architecture, metadata writer, tensor transform)
FAMILIES = {
    "gpt2": (A.GPT2, gpt2_metadata, gpt2_tensors),
    "gpt_neox": (A.GPTNEOX, lambda w, c: neox_metadata(w, c, "rotary_pct"), neox_tensors),
    "starcoder2": (A.STARCODER2, base_metadata, same),
    "starcoder2-nobias": (A.STARCODER2, base_metadata, same),
    "stablelm": (A.STABLELM, lambda w, c: neox_metadata(w, c, "partial_rotary_factor"), same),
    "stablelm-nobias": (A.STABLELM, lambda w, c: neox_metadata(w, c, "partial_rotary_factor"), same),
    "olmo": (A.OLMO, olmo_metadata, permuting_tensors),
    "olmo-tied": (A.OLMO, olmo_metadata, permuting_tensors),
    "olmo2": (A.OLMO2, base_metadata, same),
    "olmo2-tied": (A.OLMO2, base_metadata, same),
    "internlm2": (A.INTERNLM2, base_metadata, internlm2_tensors),
    "cohere": (A.COMMAND_R, cohere_metadata, same),
    "minicpm": (A.MINICPM, minicpm_metadata, permuting_tensors),
    "minicpm-tied": (A.MINICPM, minicpm_metadata, permuting_tensors),
    "baichuan": (A.BAICHUAN, baichuan_metadata, baichuan_tensors),
    "nemotron": (A.NEMOTRON, nemotron_metadata, nemotron_tensors),
    "nemotron-tied": (A.NEMOTRON, nemotron_metadata, nemotron_tensors),
    "chatglm": (A.CHATGLM, chatglm_metadata, chatglm_tensors),
    "chatglm-bias": (A.CHATGLM, chatglm_metadata, chatglm_tensors),
}


def gguf_tensors(case, cfg, order, arrays):
    """[(GGUF name, array, HF name, flat HF indices of its elements)] in the checkpoint's order.
    The indices travel through the same transforms, so a GGUF tensor can be put back in HF layout
    without inverting anything by hand."""
    arch, _, transform = FAMILIES[case]
    names = gguf.get_tensor_name_map(arch, 2)
    out = []
    for hf in order:
        a = arrays[hf].astype(np.float32)
        index = np.arange(a.size, dtype=np.int64).reshape(a.shape)
        for (name, x), (_, ix) in zip(transform(hf, a, cfg), transform(hf, index, cfg)):
            if name.startswith("@"):  # a tensor the converter names itself
                kind, bid = name[1:].split(":")
                g = gguf.TENSOR_NAMES[getattr(gguf.MODEL_TENSOR, kind)].format(bid=bid) + ".weight"
            else:
                g = names.get_name(name, try_suffixes=(".weight", ".bias"))
                assert g is not None, f"gguf-py has no name for {name}"
            out.append((g, np.ascontiguousarray(x), hf, np.ascontiguousarray(ix)))
    return out


def write_gguf(path, case, cfg, tensors, ftype):
    """ftype: "F32", "F16" or "Q8_0" for matrices; 1-D tensors stay F32, as llama.cpp keeps them."""
    arch, metadata, _ = FAMILIES[case]
    w = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    metadata(w, cfg)
    w.add_token_list([f"tok{i}" for i in range(cfg.get("vocab_size") or cfg["padded_vocab_size"])])
    for name, a, _, _ in tensors:
        if a.ndim == 1 or ftype == "F32":
            w.add_tensor(name, a.astype(np.float32))
        elif ftype == "F16":
            w.add_tensor(name, a.astype(np.float16))
        else:
            q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_case(tmp_path, case, ftype):
    src = tmp_path / "hf"
    cfg = make_arch_fixtures.make(case, str(src))
    order, arrays = read_safetensors(str(src / "model.safetensors"))
    tensors = gguf_tensors(case, cfg, order, arrays)
    (tmp_path / "g").mkdir()
    path = tmp_path / "g" / f"{case}.gguf"
    write_gguf(path, case, cfg, tensors, ftype)
    return src, cfg, path, tensors


@pytest.mark.parametrize("ftype,scheme", [("F32", "q0f16"), ("F16", "q0f16"), ("F32", "q4f16_1")])
@pytest.mark.parametrize("case", list(FAMILIES))
def test_gguf_converts_to_the_checkpoints_bytes(weightcast_bin, tmp_path, case, ftype, scheme):
    """No config.json beside the GGUF: the model type and config come from its metadata. (The
    checkpoints are bfloat16: float32 holds them exactly, float16 rounds them as q0f16 does.)"""
    src, _, path, _ = make_case(tmp_path, case, ftype)
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "from-hf")
    run_cli(weightcast_bin, "convert", path, "--quantization", scheme, "-o", tmp_path / "from-gguf")
    assert_same_files(tmp_path / "from-hf", tmp_path / "from-gguf")


@pytest.mark.parametrize("case", ["gpt2", "gpt_neox", "starcoder2", "stablelm", "olmo", "olmo2", "internlm2",
                                  "cohere", "minicpm", "baichuan", "nemotron", "chatglm"])
def test_q8_0_gguf_equals_its_dequantization_requantized(weightcast_bin, tmp_path, case):
    """gguf-py dequantizes each tensor; the flat indices carried through the converter's
    transforms put its elements back in HF layout; the oracle requantizes that checkpoint."""
    src, cfg, path, tensors = make_case(tmp_path, case, "Q8_0")
    reader = gguf.GGUFReader(str(path))
    decoded = {t.name: gguf.quants.dequantize(t.data, t.tensor_type) for t in reader.tensors}
    order, arrays = read_safetensors(str(src / "model.safetensors"))
    hf = {n: np.full(arrays[n].size, np.nan, np.float32) for n in order}
    for name, a, hf_name, index in tensors:
        x = decoded[name].reshape(-1)
        if FAMILIES[case][2] is nemotron_tensors and hf_name.endswith("norm.weight"):
            x = x - np.float32(1)  # the one value transform: layernorm1p's + 1
        assert x.size == a.size
        hf[hf_name][index.reshape(-1)] = x
    assert not any(np.isnan(v).any() for v in hf.values())  # every element placed
    deq = {n: hf[n].reshape(arrays[n].shape) for n in order}
    write_checkpoint(str(tmp_path / "deq"), cfg, deq)
    mlc_oracle.convert(str(tmp_path / "deq"), "q4f16_1", str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", path, "--quantization", "q4f16_1", "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def test_internlm2_missing_a_split_part_is_an_error_naming_the_tensor(weightcast_bin, tmp_path):
    src, cfg, path, tensors = make_case(tmp_path, "internlm2", "F32")
    write_gguf(path, "internlm2", cfg, [t for t in tensors if t[0] != "blk.1.attn_v.weight"], "F32")
    proc = run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "o", check=False)
    assert_error(proc, "model.layers.1.attention.wqkv.weight has shape (96, 64)")


def test_stablelm_with_per_head_qk_norms_is_refused_by_name(weightcast_bin, tmp_path):
    src, cfg, path, tensors = make_case(tmp_path, "stablelm", "F32")
    extra = [("blk.0.attn_q_norm.weight", np.ones((4, 16), np.float32), None, None)]
    write_gguf(path, "stablelm", cfg, tensors + extra, "F32")
    proc = run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "o", check=False)
    assert_error(proc, "StableLM with per-head q/k norms (qk_layernorm) is not supported")


@pytest.mark.parametrize("case", ["gpt2", "gpt_neox", "starcoder2", "stablelm", "olmo", "olmo2", "internlm2", "cohere",
                                  "minicpm", "baichuan", "nemotron", "chatglm"])
def test_inspect_names_the_mlc_model_type(weightcast_bin, tmp_path, case):
    _, cfg, path, _ = make_case(tmp_path, case, "F16")
    arch = gguf.MODEL_ARCH_NAMES[FAMILIES[case][0]]
    out = run_cli(weightcast_bin, "inspect", path).stdout
    assert f"architecture: {arch}, MLC model type: {cfg['model_type']}" in out


def test_gpt2_head_copied_by_older_llama_cpp_is_dropped(weightcast_bin, tmp_path):
    """Older converters also wrote token_embd as output.weight; HF's GPT-2 has no such tensor."""
    src, cfg, path, tensors = make_case(tmp_path, "gpt2", "F32")
    embedding = next(t for t in tensors if t[0] == "token_embd.weight")
    write_gguf(path, "gpt2", cfg, tensors + [("output.weight", embedding[1], None, None)], "F32")
    run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "-o", tmp_path / "from-hf")
    run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "from-gguf")
    assert_same_files(tmp_path / "from-hf", tmp_path / "from-gguf")
