"""GGUF input family by family (llama incl. mistral and mixtral, qwen2, qwen2moe, qwen3, qwen3moe,
gemma, gemma2, gemma3, phi2, phi3): each case's tiny HF checkpoint is written to GGUF the way
llama.cpp's converter lays it out (gguf_writer_util + the tables below), then converted by
weightcast from both. F32/F16 files give the HF checkpoint's bytes; quantized ones give what the
oracle makes of gguf-py's dequantization."""
import json
import re
import shutil
from collections import defaultdict

import numpy as np
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import assert_error, assert_same_files, run_cli
from hf_checkpoint import decoder, random_tensor

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed")
import gguf_writer_util as gw  # noqa: E402  (needs gguf)

T = gw.T

# ---- llama.cpp's layout, as the tests model it ---------------------------------------------

TOP = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
ATTN = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "self_attn.q_norm": "attn_q_norm",
        "self_attn.k_norm": "attn_k_norm"}
LAYER = {
    "llama": {**ATTN, "post_attention_layernorm": "ffn_norm", "block_sparse_moe.gate": "ffn_gate_inp"},
    "qwen": {**ATTN, "post_attention_layernorm": "ffn_norm", "mlp.gate": "ffn_gate_inp",
             "mlp.shared_expert.gate_proj": "ffn_gate_shexp", "mlp.shared_expert.up_proj": "ffn_up_shexp",
             "mlp.shared_expert.down_proj": "ffn_down_shexp", "mlp.shared_expert_gate": "ffn_gate_inp_shexp"},
    "gemma": {**ATTN, "post_attention_layernorm": "ffn_norm"},
    # Gemma 2 and 3: ffn_norm is the pre-feed-forward norm, not the post-attention one.
    "gemma2": {**ATTN, "post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
               "post_feedforward_layernorm": "post_ffw_norm"},
    "phi2": {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.dense": "attn_output", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down",
             "input_layernorm": "attn_norm"},
    "phi3": {"self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"},
}
EXPERT = re.compile(r"model\.layers\.(\d+)\.(?:block_sparse_moe|mlp)\.experts\.(\d+)\.(\w+)\.weight")
EXPERT_GGUF = {"w1": "ffn_gate_exps", "w2": "ffn_down_exps", "w3": "ffn_up_exps", "gate_proj": "ffn_gate_exps",
               "down_proj": "ffn_down_exps", "up_proj": "ffn_up_exps"}
# The order llama.cpp writes a layer's stacks in, once it has seen the layer's last expert.
EXPERT_ORDER = {"llama": ["w1", "w2", "w3"], "qwen": ["down_proj", "gate_proj", "up_proj"]}

# case: (fixture case, GGUF architecture, name table, the MLC model type the GGUF maps to)
CASES = {
    "llama": ("llama", "llama", "llama", "llama"),
    "llama-tied": ("llama-tied", "llama", "llama", "llama"),
    "mistral": ("mistral", "llama", "llama", "llama"),
    "mixtral": ("mixtral", "llama", "llama", "mixtral"),
    "qwen2": ("qwen2", "qwen2", "qwen", "qwen2"),
    "qwen2-tied": ("qwen2-tied", "qwen2", "qwen", "qwen2"),
    "qwen2moe": ("qwen2_moe", "qwen2moe", "qwen", "qwen2_moe"),
    "qwen3": ("qwen3", "qwen3", "qwen", "qwen3"),
    "qwen3-bias": ("qwen3-bias", "qwen3", "qwen", "qwen3"),
    "qwen3moe": ("qwen3_moe", "qwen3moe", "qwen", "qwen3_moe"),
    "gemma": ("gemma", "gemma", "gemma", "gemma"),
    "gemma2": ("gemma2", "gemma2", "gemma2", "gemma2"),
    "gemma3": ("gemma3_text", "gemma3", "gemma2", "gemma3_text"),
    "phi2": ("phi", "phi2", "phi2", "phi"),
    "phi3": ("phi3", "phi3", "phi3", "phi3"),
}


def gguf_name(table, name):
    module, suffix = name.rsplit(".", 1)
    if module in TOP or module == "model.final_layernorm":
        return ("output_norm" if module == "model.final_layernorm" else TOP[module]) + "." + suffix
    _, _, n, rest = module.split(".", 3)
    return f"blk.{n}.{LAYER[table][rest]}.{suffix}"


def layout(table, arch, cfg, order):
    """The GGUF tensors llama.cpp writes for a checkpoint whose tensors come in `order`."""
    h, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    n_exp = cfg.get("num_local_experts") or cfg.get("num_experts") or 0
    entries, pending = [], defaultdict(dict)
    for name in order:
        m = EXPERT.match(name)
        if m:
            layer, e, proj = m.groups()
            pending[layer][proj, int(e)] = name
            if len(pending[layer]) == 3 * n_exp:
                for p in EXPERT_ORDER[table]:
                    entries.append(gw.Entry(f"blk.{layer}.{EXPERT_GGUF[p]}.weight",
                                            [pending[layer][p, i] for i in range(n_exp)], how="stack"))
            continue
        if arch.startswith("gemma") and name == "lm_head.weight":
            continue  # llama.cpp never writes Gemma's head
        g = gguf_name(table, name)
        perm = 0
        if arch == "llama" and ".attn_q." in g:
            perm = h
        if arch == "llama" and ".attn_k." in g:
            perm = kv
        add = 1.0 if arch.startswith("gemma") and name.endswith("norm.weight") else 0.0
        entries.append(gw.Entry(g, name, permute=perm, add=add, f32=".ffn_gate_inp." in g))
    return entries


def metadata(arch, cfg):
    """What llama.cpp's converter writes for the family (the keys each family has)."""
    def kv(w):
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(cfg["num_attention_heads"])
        w.add_head_count_kv(cfg.get("num_key_value_heads") or cfg["num_attention_heads"])
        if arch == "phi2":
            w.add_layer_norm_eps(cfg["layer_norm_eps"])
            w.add_rope_dimension_count(int(cfg["partial_rotary_factor"] * head_dim))
            return
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        if arch != "gemma" and arch != "gemma2":  # Gemma 1 and 2 never write it
            w.add_rope_freq_base(cfg["rope_theta"])
        if arch == "llama":
            w.add_vocab_size(cfg["vocab_size"])
        if "head_dim" in cfg:
            w.add_key_length(cfg["head_dim"])
            w.add_value_length(cfg["head_dim"])
        if arch in ("gemma2", "gemma3"):
            w.add_sliding_window(cfg["sliding_window"])
        if arch == "gemma2":
            w.add_attn_logit_softcapping(cfg["attn_logit_softcapping"])
            w.add_final_logit_softcapping(cfg["final_logit_softcapping"])
        if arch == "phi3":
            w.add_rope_dimension_count(head_dim)
            w.add_rope_scaling_orig_ctx_len(cfg["original_max_position_embeddings"])
        experts = cfg.get("num_local_experts") or cfg.get("num_experts")
        if experts:
            w.add_expert_count(experts)
            w.add_expert_used_count(cfg["num_experts_per_tok"])
        if "moe_intermediate_size" in cfg:
            w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
        if "shared_expert_intermediate_size" in cfg:
            w.add_expert_shared_feed_forward_length(cfg["shared_expert_intermediate_size"])
    return kv


def make_case(case, base, qtype=T.F32):
    """(HF float32 checkpoint dir, GGUF path, entries, config, order)."""
    fixture, arch, table, _ = CASES[case]
    make_arch_fixtures.make(fixture, str(base / "bf16"))
    cfg, order, arrays = gw.read_hf(str(base / "bf16"))
    gw.write_hf(base / "hf", cfg, arrays, order)  # float32: Gemma's +1 is exact from float32
    entries = layout(table, arch, cfg, order)
    path = gw.write_gguf(base / f"{case}.gguf", arch, entries, arrays, qtype, kv=metadata(arch, cfg),
                         n_tokens=cfg["vocab_size"])
    return base / "hf", path, entries, cfg, order


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("qtype", [T.F32, T.F16], ids=["F32", "F16"])
def test_float_gguf_equals_the_hf_checkpoint(weightcast_bin, tmp_path, case, qtype):
    """No config.json beside the GGUF: the metadata alone make the config."""
    hf, path, _, _, _ = make_case(case, tmp_path, qtype)
    schemes = ["q0f16", "q4f16_1"] if qtype == T.F32 else ["q0f16"]
    for scheme in schemes:
        run_cli(weightcast_bin, "convert", hf, "--quantization", scheme, "-o", tmp_path / f"hf-{scheme}")
        proc = run_cli(weightcast_bin, "convert", path, "--quantization", scheme, "-o", tmp_path / f"g-{scheme}")
        assert "Unused extern parameters" not in proc.stdout
        assert_same_files(tmp_path / f"hf-{scheme}", tmp_path / f"g-{scheme}")


def quantized_reference(tmp_path, path, entries, cfg, order, shapes):
    """The HF checkpoint a quantized GGUF stands for: gguf-py's dequantization, inverted."""
    ref = gw.hf_from_gguf(path, entries, shapes)
    gw.write_hf(tmp_path / "ref", cfg, ref, order)
    return tmp_path / "ref"


@pytest.mark.parametrize("case", list(CASES))
def test_q8_0_gguf_equals_the_oracle_on_its_dequantization(weightcast_bin, tmp_path, case):
    hf, path, entries, cfg, order = make_case(case, tmp_path, T.Q8_0)
    _, _, arrays = gw.read_hf(str(hf))
    ref = quantized_reference(tmp_path, path, entries, cfg, order, {k: v.shape for k, v in arrays.items()})
    types = {t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}
    assert "Q8_0" in types  # the fixture really is quantized
    for scheme in ["q0f16", "q4f16_1"]:
        mlc_oracle.convert(str(ref), scheme, str(tmp_path / f"expected-{scheme}"))
        run_cli(weightcast_bin, "convert", path, "--quantization", scheme, "-o", tmp_path / f"g-{scheme}")
        assert_same_files(tmp_path / f"expected-{scheme}", tmp_path / f"g-{scheme}")


def wide_llama(base):
    """A llama whose rows are whole Q4_K super-blocks (256 wide)."""
    cfg = make_arch_fixtures.base_config("llama", hidden_size=256, intermediate_size=256, tie_word_embeddings=False)
    rng = np.random.default_rng(5)
    arrays = {k: random_tensor(k, s, rng).astype(np.float32) for k, s in decoder(cfg).items()}
    gw.write_hf(base / "hf", cfg, arrays, list(arrays))
    _, order, _ = gw.read_hf(str(base / "hf"))  # the file's order, which llama.cpp keeps
    entries = layout("llama", "llama", cfg, order)
    path = gw.write_gguf(base / "wide.gguf", "llama", entries, arrays, T.Q4_K, kv=metadata("llama", cfg),
                         n_tokens=cfg["vocab_size"])
    return path, entries, cfg, order, {k: v.shape for k, v in arrays.items()}


def test_q4_k_gguf_equals_the_oracle_on_its_dequantization(weightcast_bin, tmp_path):
    path, entries, cfg, order, shapes = wide_llama(tmp_path)
    assert "Q4_K" in {t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}
    ref = quantized_reference(tmp_path, path, entries, cfg, order, shapes)
    for scheme in ["q0f16", "q4f16_1"]:
        mlc_oracle.convert(str(ref), scheme, str(tmp_path / f"expected-{scheme}"))
        run_cli(weightcast_bin, "convert", path, "--quantization", scheme, "-o", tmp_path / f"g-{scheme}")
        assert_same_files(tmp_path / f"expected-{scheme}", tmp_path / f"g-{scheme}")


def test_phi2_with_a_fused_qkv_is_split_back(weightcast_bin, tmp_path):
    """Phi 2 GGUFs made from Microsoft's original layout hold attn_qkv = [q; k; v] (bias too)."""
    _, arch, table, _ = CASES["phi2"]
    make_arch_fixtures.make("phi", str(tmp_path / "bf16"))
    cfg, order, arrays = gw.read_hf(str(tmp_path / "bf16"))
    gw.write_hf(tmp_path / "hf", cfg, arrays, order)
    entries = []
    for e in layout(table, arch, cfg, order):
        m = re.match(r"blk\.(\d+)\.attn_([qkv])\.(weight|bias)", e.gguf)
        if not m:
            entries.append(e)
        elif m[2] == "q":
            src = [e.hf[0].replace("q_proj", p) for p in ("q_proj", "k_proj", "v_proj")]
            entries.append(gw.Entry(f"blk.{m[1]}.attn_qkv.{m[3]}", src, how="concat"))
    assert any(".attn_qkv." in e.gguf for e in entries) and not any(".attn_q." in e.gguf for e in entries)
    path = gw.write_gguf(tmp_path / "fused.gguf", arch, entries, arrays, T.F16, kv=metadata(arch, cfg),
                         n_tokens=cfg["vocab_size"])
    run_cli(weightcast_bin, "convert", tmp_path / "hf", "--quantization", "q0f16", "-o", tmp_path / "hf-out")
    run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "g-out")
    assert_same_files(tmp_path / "hf-out", tmp_path / "g-out")


# ---- metadata, inspect, config.json beside the file ----------------------------------------

@pytest.mark.parametrize("case", ["mixtral", "gemma2", "phi2", "qwen3moe"])
def test_inspect_names_the_architecture_model_type_and_tensor_types(weightcast_bin, tmp_path, case):
    _, path, entries, _, _ = make_case(case, tmp_path, T.Q8_0)
    out = run_cli(weightcast_bin, "inspect", path).stdout
    _, arch, _, model_type = CASES[case]
    assert f"architecture: {arch}, MLC model type: {model_type}\n" in out
    counts = defaultdict(int)
    for t in gguf.GGUFReader(str(path)).tensors:
        counts[t.tensor_type.name] += 1
    assert "tensor types: " + ", ".join(f"{k} x {v}" for k, v in sorted(counts.items())) + "\n" in out


def test_inspect_of_an_unsupported_architecture_says_so(weightcast_bin, tmp_path):
    p = tmp_path / "r.gguf"
    w = gguf.GGUFWriter(str(p), "rwkv6")
    w.add_tensor("x.weight", np.zeros(4, dtype=np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    out = run_cli(weightcast_bin, "inspect", p).stdout
    assert "architecture: rwkv6, MLC model type: none (" in out
    assert "GGUF architecture 'rwkv6' is not supported yet (supported: llama, qwen2, qwen2moe" in out


def test_a_config_json_that_disagrees_is_named(weightcast_bin, tmp_path):
    _, path, _, cfg, _ = make_case("qwen2", tmp_path)
    cfg["num_key_value_heads"] = 4
    with open(tmp_path / "config.json", "w") as f:
        json.dump(cfg, f)
    assert_error(run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 "config.json: num_key_value_heads is 4 but the GGUF file", "says 2")


def test_a_config_json_that_agrees_wins(weightcast_bin, tmp_path):
    """Sizes agree, so config.json is taken as it is: its tie_word_embeddings (not a size) makes
    the file's output.weight one MLC does not read."""
    _, path, _, cfg, _ = make_case("qwen2", tmp_path)
    cfg["tie_word_embeddings"] = True
    with open(tmp_path / "config.json", "w") as f:
        json.dump(cfg, f)
    proc = run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "o")
    assert "lm_head.weight" in proc.stdout and "Unused extern parameters" in proc.stdout
    assert "lm_head.weight" not in load_pack(tmp_path / "o")


def test_a_config_json_stands_in_for_missing_metadata(weightcast_bin, tmp_path):
    """A file without the metadata a config needs still converts with a config.json beside it
    (Qwen's names need none; llama's need the head counts)."""
    fixture, arch, table, _ = CASES["qwen2"]
    make_arch_fixtures.make(fixture, str(tmp_path / "bf16"))
    cfg, order, arrays = gw.read_hf(str(tmp_path / "bf16"))
    gw.write_hf(tmp_path / "hf", cfg, arrays, order)
    gdir = tmp_path / "g"
    gdir.mkdir()
    path = gw.write_gguf(gdir / "bare.gguf", arch, layout(table, arch, cfg, order), arrays)
    shutil.copy(tmp_path / "hf" / "config.json", gdir / "config.json")
    run_cli(weightcast_bin, "convert", tmp_path / "hf", "--quantization", "q0f16", "-o", tmp_path / "hf-out")
    run_cli(weightcast_bin, "convert", path, "--quantization", "q0f16", "-o", tmp_path / "g-out")
    assert_same_files(tmp_path / "hf-out", tmp_path / "g-out")


def write_split(base, case):
    """A two-part GGUF whose output.weight lies in the second part (metadata in the first)."""
    fixture, arch, table, _ = CASES[case]
    make_arch_fixtures.make(fixture, str(base / "bf16"))
    cfg, order, arrays = gw.read_hf(str(base / "bf16"))
    gw.write_hf(base / "hf", cfg, arrays, order)
    entries = layout(table, arch, cfg, order)
    head = [e for e in entries if e.gguf == "output.weight"]
    rest = [e for e in entries if e.gguf != "output.weight"]
    first = base / "m-00001-of-00002.gguf"
    gw.write_gguf(first, arch, rest, arrays, kv=metadata(arch, cfg), n_tokens=cfg["vocab_size"])
    gw.write_gguf(base / "m-00002-of-00002.gguf", arch, head, arrays)
    return base / "hf", first


def load_pack(out_dir):
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    params, _ = tvmjs.load_tensor_cache(str(out_dir), tvm.cpu())
    return {k: v.numpy() for k, v in params.items()}


def test_output_weight_in_a_later_split_part_is_not_tied(weightcast_bin, tmp_path):
    """The head moved to the second part changes the record order, not the values."""
    hf, first = write_split(tmp_path, "qwen2")
    run_cli(weightcast_bin, "convert", hf, "--quantization", "q0f16", "-o", tmp_path / "hf-out")
    proc = run_cli(weightcast_bin, "convert", first, "--quantization", "q0f16", "-o", tmp_path / "g-out")
    assert "Unused extern parameters" not in proc.stdout
    want, got = load_pack(tmp_path / "hf-out"), load_pack(tmp_path / "g-out")
    assert "lm_head.q_weight" in got or "lm_head.weight" in got
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# ---- refusals by name ----------------------------------------------------------------------

@pytest.mark.parametrize("type_id,name,block,size", [(39, "MXFP4", 32, 17), (34, "TQ1_0", 256, 54),
                                                     (20, "IQ4_NL", 32, 18)])
def test_unsupported_tensor_types_are_refused_by_name(weightcast_bin, tmp_path, type_id, name, block, size):
    from test_gguf import gguf_bytes, tiny_llama_kvs
    p = tmp_path / "t.gguf"
    p.write_bytes(gguf_bytes(kvs=tiny_llama_kvs(), tensors=[("token_embd.weight", [256, 8], type_id, 0)],
                             data=b"\0" * (256 // block * size * 8)))
    assert_error(run_cli(weightcast_bin, "convert", p, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 f"has type {name}, which weightcast cannot dequantize yet (supported: F32, F16, BF16, Q4_0")
