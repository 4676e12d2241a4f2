"""Architectures beyond the happy path: configs missing what an architecture needs, head counts
that do not fit, checkpoints that disagree with their config, MoE checkpoints missing an expert,
schemes an architecture refuses, pre-sharding, and Gemma's norm + 1 from a .bin source."""
import os
import shutil

import ml_dtypes
import numpy as np
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import (ROOT, add_activation_scales, assert_error, assert_same_files, convert, edit_config, edit_tensors,
                      manifest_records, run_cli)
from hf_checkpoint import read_safetensors, write_checkpoint


def make(tmp_path, case, **overrides):
    src = tmp_path / "src"
    make_arch_fixtures.make(case, str(src), config_overrides=overrides)
    return src


@pytest.mark.parametrize("case,field", [
    ("qwen2", "rope_theta"), ("qwen3_moe", "attention_bias"), ("gemma2", "query_pre_attn_scalar"),
    ("starcoder2", "use_bias"), ("internlm2", "bias"), ("minicpm", "scale_emb"), ("stablelm", "layer_norm_eps"),
    ("deepseek_v2", "kv_lora_rank"), ("baichuan", "tie_word_embeddings"), ("gpt2", "n_embd"),
    ("gpt_neox", "rotary_pct"), ("chatglm", "multi_query_group_num"), ("gemma3_text", "sliding_window"),
])
def test_a_missing_field_is_named(weightcast_bin, tmp_path, case, field):
    src = make(tmp_path, case)
    edit_config(src, **{field: None})
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"), f'"{field}"')
    assert not (tmp_path / "o" / "tensor-cache.json").exists()


@pytest.mark.parametrize("case", ["qwen2", "mixtral", "olmo2", "phi3", "cohere"])
def test_head_counts_that_do_not_divide(weightcast_bin, tmp_path, case):
    src = make(tmp_path, case, num_key_value_heads=3)
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"),
                 "num_attention_heads (4) must be a multiple of num_key_value_heads (3)")


@pytest.mark.parametrize("case,tensor,shape", [
    ("qwen2", "model.layers.0.mlp.down_proj.weight", "(64, 96), but expected (64, 80)"),
    ("gpt2", "transformer.h.0.mlp.c_fc.bias", "(256,), but expected (80,)"),
    ("mixtral", "model.layers.0.moe.e1_e3.weight", "(4, 192, 64), but expected (4, 160, 64)"),
])
def test_tensors_that_disagree_with_the_config(weightcast_bin, tmp_path, case, tensor, shape):
    """MLC's shape error, for the first mismatching parameter in loading order."""
    key = "n_inner" if case == "gpt2" else "intermediate_size"
    src = make(tmp_path, case, **{key: 80})
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"), f"Parameter {tensor} has shape {shape}")


def test_an_moe_checkpoint_missing_an_expert(weightcast_bin, tmp_path):
    src = tmp_path / "src"
    make_arch_fixtures.make("mixtral", str(src), drop={"model.layers.1.block_sparse_moe.experts.3.w2.weight"})
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"),
                 "The following extern parameters do not exist in the weight files:",
                 "model.layers.1.block_sparse_moe.experts.3.w2.weight")


def test_an_expert_of_the_wrong_size(weightcast_bin, tmp_path):
    src = tmp_path / "src"
    make_arch_fixtures.make("qwen2_moe", str(src))
    name = "model.layers.0.mlp.experts.2.up_proj.weight"
    edit_tensors(src / "model.safetensors", lambda t: t.update({name: np.zeros((16, 64), ml_dtypes.bfloat16)}))
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"), "cannot stack", name)


def test_moe_gates_stay_unquantized(weightcast_bin, tmp_path):
    src = make(tmp_path, "qwen2_moe")
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "o")
    names = manifest_records(tmp_path / "o")
    assert names["model.layers.0.mlp.gate.weight"]["dtype"] == "float16"
    assert names["model.layers.0.mlp.shared_expert_gate.weight"]["shape"] == [1, 64]
    assert names["model.layers.0.mlp.moe_gate_up_proj.q_weight"]["shape"] == [4, 64, 8]


def test_a_router_over_256_experts_is_quantized(weightcast_bin, tmp_path):
    """is_moe_gate holds for at most 256 outputs; a wider router is an ordinary Linear."""
    src = tmp_path / "src"
    make_arch_fixtures.make("qwen3_moe", str(src))

    def widen(tensors):
        for n in range(2):
            m = f"model.layers.{n}.mlp."
            tensors[m + "gate.weight"] = np.zeros((260, 64), ml_dtypes.bfloat16)
            for e in range(4, 260):
                for proj, shape in (("gate_proj", (32, 64)), ("up_proj", (32, 64)), ("down_proj", (64, 32))):
                    tensors[f"{m}experts.{e}.{proj}.weight"] = np.zeros(shape, ml_dtypes.bfloat16)
    edit_tensors(src / "model.safetensors", widen)
    edit_config(src, num_experts=260)
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "o")
    names = manifest_records(tmp_path / "o")
    assert "model.layers.0.mlp.gate.q_weight" in names and "model.layers.0.mlp.gate.weight" not in names


@pytest.mark.parametrize("scheme", ["e4m3_e4m3_f16", "e5m2_e5m2_f16"])
def test_per_tensor_fp8_experts(weightcast_bin, tmp_path, scheme):
    """MixtralExperts get one FP8 scale over all experts; the router stays float16."""
    src = make(tmp_path, "mixtral")
    mlc_oracle.convert(str(src), scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    shapes = {name: (r["shape"], r["dtype"]) for name, r in manifest_records(tmp_path / "out").items()}
    assert shapes["model.layers.0.moe.e2.q_weight"][0] == [4, 64, 96]
    assert shapes["model.layers.0.moe.gate.weight"][1] == "float16"


def test_per_tensor_fp8_experts_presharded(weightcast_bin, tmp_path):
    src = make(tmp_path, "mixtral-tp")
    mlc_oracle.convert(str(src), "e4m3_e4m3_f16", str(tmp_path / "expected"), shards=2)
    run_cli(weightcast_bin, "convert", src, "--quantization", "e4m3_e4m3_f16", "--tensor-parallel-shards", "2",
            "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def test_experts_refuse_the_kn_layout(weightcast_bin, tmp_path):
    src = make(tmp_path, "mixtral")
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q4f16_0"),
                 "GroupQuantizeMixtralExperts does not support KN layout now.")


@pytest.mark.parametrize("case,scheme,kind", [
    ("gemma", "q4f16_autoawq", "awq"), ("chatglm", "e4m3_e4m3_f16", "per-tensor-quant"),
    ("qwen2", "fp8_e4m3fn_bf16_block_scale", "block-scale-quant"), ("phi3", "e5m2_e5m2_f16", "per-tensor-quant"),
])
def test_schemes_an_architecture_does_not_offer(weightcast_bin, tmp_path, case, scheme, kind):
    src = make(tmp_path, case)
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme=scheme), f"quantization kind '{kind}'",
                 f"is not available for model type {case}")


def test_architecture_specific_config_errors(weightcast_bin, tmp_path):
    src = make(tmp_path, "gemma", attention_bias=True)
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"),
                 'Only "False" attention_bias is supported for gemma')
    src2 = tmp_path / "src2"
    make_arch_fixtures.make("gemma2", str(src2), config_overrides={"hidden_activation": "silu"})
    assert_error(convert(weightcast_bin, src2, tmp_path / "o", scheme="q0f16"),
                 "Only GeLU is supported as the activation for gemma.")
    src3 = tmp_path / "src3"
    make_arch_fixtures.make("deepseek_v2", str(src3), config_overrides={"topk_method": "best"})
    assert_error(convert(weightcast_bin, src3, tmp_path / "o", scheme="q0f16"), "Unsupported deepseek topk method: best")


def test_unknown_model_type_lists_every_architecture(weightcast_bin, tmp_path):
    src = make(tmp_path, "qwen2", model_type="qwen9")
    proc = convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16")
    assert_error(proc, "Unknown model type: qwen9. Available ones:")
    for name in ("llama", "qwen2_moe", "gemma3_text", "gpt_bigcode", "deepseek_v3", "chatglm", "internlm2"):
        assert f"'{name}'" in proc.stderr


@pytest.mark.parametrize("case", ["qwen2", "mixtral", "starcoder2-nobias", "internlm2", "gpt2", "gpt_neox",
                                  "minicpm-moe", "phi", "baichuan", "deepseek_v2", "deepseek_v3-bias"])
def test_preshard_matches_the_oracle(weightcast_bin, tmp_path, case):
    src = make(tmp_path, case)
    mlc_oracle.convert(str(src), "q0f16", str(tmp_path / "expected"), shards=2)
    run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "--tensor-parallel-shards", "2",
            "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def test_preshard_quantized_experts(weightcast_bin, tmp_path):
    """MixtralExperts' q_weight / q_scale split like the weight: e1_e3 along its outputs in two
    segments, e2 along its (grouped) inputs."""
    src = make(tmp_path, "mixtral-tp")
    mlc_oracle.convert(str(src), "q4f16_1", str(tmp_path / "expected"), shards=2)
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "--tensor-parallel-shards", "2",
            "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    shapes = {name: r["shape"] for name, r in manifest_records(tmp_path / "out").items()}
    assert shapes["model.layers.0.moe.e2.q_weight_shard-1"] == [4, 64, 8]
    assert shapes["model.layers.0.moe.e1_e3.q_scale_shard-0"] == [4, 128, 2]


def test_preshard_experts_whose_groups_do_not_split(weightcast_bin, tmp_path):
    src = make(tmp_path, "mixtral")
    proc = convert(weightcast_bin, src, tmp_path / "o", "--tensor-parallel-shards", "2", scheme="q4f16_1")
    assert_error(proc, "model.layers.0.moe.e2.weight: its 96 input features split into 2 shards of 48, "
                       "but 3 groups of 32 do not split evenly", code=proc.returncode)
    assert proc.returncode != 0


@pytest.mark.parametrize("case,message", [
    ("starcoder2", "starcoder2 with use_bias cannot be pre-sharded"), ("cohere", "cohere cannot be pre-sharded"),
    ("gemma3", "gemma3 cannot be pre-sharded"), ("gpt_bigcode", "GPT bigcode only support tensor parallel shards = 1"),
    ("chatglm-bias", "chatglm with add_bias_linear cannot be pre-sharded"),
    ("nemotron", "nemotron cannot be pre-sharded"), ("deepseek", "deepseek cannot be pre-sharded"), ("internlm-bias", "internlm with bias cannot be pre-sharded"),
])
def test_preshard_refusals(weightcast_bin, tmp_path, case, message):
    src = make(tmp_path, case)
    proc = convert(weightcast_bin, src, tmp_path / "o", "--tensor-parallel-shards", "2", scheme="q0f16")
    assert_error(proc, message, code=proc.returncode)
    assert proc.returncode != 0


def test_qwen3_embedding_is_chosen_by_model_type(weightcast_bin, tmp_path):
    """Qwen3-Embedding configs say "qwen3"; --model-type picks the unprefixed mapping."""
    src = tmp_path / "src"
    make_arch_fixtures.make("qwen3-embedding", str(src), config_overrides={"model_type": "qwen3"})
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"), "do not exist in the weight files",
                 "model.embed_tokens.weight")
    run_cli(weightcast_bin, "convert", src, "--model-type", "qwen3-embedding", "--quantization", "q4f16_1",
            "-o", tmp_path / "out")
    edit_config(src, model_type="qwen3-embedding")
    mlc_oracle.convert(str(src), "q4f16_1", str(tmp_path / "expected"))
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def test_gemma_bin_adds_one_in_float32(weightcast_bin, tmp_path):
    """MLC's torch loader widens bf16 to float32 before the mapping, so a .bin Gemma's norms are
    f16(f32(x) + 1), where a .safetensors one gets f16(bf16(x + 1)) (tests/fixtures/torch/gemma
    holds the same tensors as make_arch_fixtures' gemma case)."""
    bin_src = tmp_path / "bin"
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "torch", "gemma"), bin_src)
    st_src, widened = tmp_path / "st", tmp_path / "widened"
    cfg = make_arch_fixtures.make("gemma", str(st_src))
    _, tensors = read_safetensors(str(st_src / "model.safetensors"))
    write_checkpoint(str(widened), cfg, {k: v.astype(np.float32) for k, v in tensors.items()})
    records, _ = mlc_oracle.convert(str(widened), "q0f16", str(tmp_path / "expected"))
    bf16_route, _ = mlc_oracle.convert(str(st_src), "q0f16", str(tmp_path / "bf16-route"))
    norm = "model.layers.0.input_layernorm.weight"
    assert not np.array_equal(records[norm], bf16_route[norm])  # the two routes do differ here
    run_cli(weightcast_bin, "convert", bin_src, "--quantization", "q0f16", "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("case", ["qwen3_moe", "qwen3_moe-bias", "deepseek_v3-wide", "deepseek_v3-wide-bias"])
def test_fp8_block_checkpoints_load_one_to_one(weightcast_bin, tmp_path, case, static):
    """Experts keep their FP8 weights with stacked weight_scale_inv; DeepSeek's w_uk / w_uv are
    FP8 slices of kv_b_proj with the matching slices of its scales. DeepSeek takes 128 x 128
    blocks only (as MLC), Qwen3's MoE any block that divides its shapes."""
    scheme = "fp8_e4m3fn_bf16_block_scale" + ("_static_activation" if static else "")
    src = tmp_path / "src"
    deepseek = case.startswith("deepseek")
    block = (128, 128) if deepseek else (16, 16)
    cfg = make_arch_fixtures.make(case, str(src), fp8_blocks=block)
    if static:  # the static-activation variant also reads each Linear's activation_scale
        add_activation_scales(src, scheme, block[1])
    mlc_oracle.convert(str(src), scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    dtypes = {name: (r["dtype"], r["shape"]) for name, r in manifest_records(tmp_path / "out").items()}
    hidden, inter = cfg["hidden_size"], cfg.get("moe_intermediate_size", 32)
    inter = inter if deepseek else 32
    assert dtypes["model.layers.1.mlp.moe_gate_up_proj.weight"] == ("float8_e4m3fn", [4, 2 * inter, hidden])
    assert dtypes["model.layers.1.mlp.moe_gate_up_proj.weight_scale_inv"] == (
        "float32", [4, 2 * inter // block[0], -(-hidden // block[1])])
    assert dtypes["model.layers.1.mlp.gate.weight"][0] == "bfloat16"
    if deepseek:  # 2 heads; per head one 128-row block of nope (w_uk) and one of v (w_uv)
        assert dtypes["model.layers.0.self_attn.w_uk"][0] == "float8_e4m3fn"
        assert dtypes["model.layers.0.self_attn.w_uk_scale_inv"] == ("float32", [2, 1, 1])
        assert dtypes["model.layers.0.self_attn.w_uv_scale_inv"] == ("float32", [2, 1, 1])


@pytest.mark.parametrize("case", ["deepseek_v3", "deepseek_v3-bias"])
def test_deepseek_fp8_blocks_other_than_128_are_refused_as_mlc_does(weightcast_bin, tmp_path, case):
    """MLC's DeepSeek attention runs CUTLASS's groupwise GEMM, which takes 128 x 128 blocks only."""
    src = tmp_path / "src"
    make_arch_fixtures.make(case, str(src), fp8_blocks=(8, 16))
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="fp8_e4m3fn_bf16_block_scale"),
                 "block_size must be (128, 128), but got [8, 16]")


@pytest.mark.parametrize("case,overrides,message", [
    ("qwen2", {"num_hidden_layers": 2000000000}, '"num_hidden_layers" is implausibly large'),
    ("llama", {"num_hidden_layers": 10000000}, "which no checkpoint has: check its layer and expert counts"),
    ("gpt2", {"n_layer": 10000000}, "which no checkpoint has"),
    ("qwen2_moe", {"num_experts": 1000000}, "1000000 experts per layer: implausibly many"),
    ("llama", {"head_dim": 1 << 40}, '"head_dim" is out of range'),
    ("gemma3_text", {"head_dim": 1 << 30}, '"head_dim" is implausibly large'),
    ("phi", {"num_hidden_layers": -3}, "must be positive"),
])
def test_lying_configs_fail_before_memory_runs_out(weightcast_bin, tmp_path, case, overrides, message):
    src = make(tmp_path, case, **overrides)
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"), message)


@pytest.mark.parametrize("case,length_key", [("llama", "max_position_embeddings"), ("qwen3", "max_position_embeddings"),
                                             ("qwen2", "max_position_embeddings"), ("chatglm", "seq_length")])
def test_a_config_without_a_maximum_length(weightcast_bin, tmp_path, case, length_key):
    src = make(tmp_path, case)
    edit_config(src, **{length_key: None})
    assert_error(convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16"),
                 "Unable to determine the maximum sequence length, because none of `context_window_size`")
