"""Qwen3 (bf16, with and without biases, tied or not) and its FP8 block-scale checkpoints."""
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import add_activation_scales, assert_error, assert_same_files, edit_config, manifest_records, run_cli


def make_qwen3(src, bias=True, tied=False, drop=(), **options):
    """The qwen3 architecture case with rounding ties planted in every matrix; tied: the config
    says so and the checkpoint has no lm_head."""
    drop = set(drop) | ({"lm_head.weight"} if tied else set())
    return make_arch_fixtures.make("qwen3-bias" if bias else "qwen3", str(src), drop=drop, planted=True,
                                   config_overrides={"tie_word_embeddings": True} if tied else None, **options)


@pytest.mark.parametrize("scheme", ["q0f16", "q0f32", "q4f16_1", "q3f16_0", "q4bf16_1"])
@pytest.mark.parametrize("bias,tied", [(True, False), (False, True)])
def test_qwen3_matches_the_oracle(weightcast_bin, tmp_path, scheme, bias, tied):
    make_qwen3(tmp_path / "src", bias=bias, tied=tied)
    mlc_oracle.convert(str(tmp_path / "src"), scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("static", [False, True])
def test_fp8_block_scale_loads_one_to_one(weightcast_bin, tmp_path, static):
    scheme = "fp8_e4m3fn_bf16_block_scale" + ("_static_activation" if static else "")
    make_qwen3(tmp_path / "src", fp8_blocks=(32, 32))
    if static:
        add_activation_scales(tmp_path / "src", scheme, 32)
    mlc_oracle.convert(str(tmp_path / "src"), scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    dtypes = {name: r["dtype"] for name, r in manifest_records(tmp_path / "out").items()}
    assert dtypes["model.layers.0.self_attn.c_attn.weight"] == "float8_e4m3fn"
    assert dtypes["model.layers.0.self_attn.c_attn.weight_scale_inv"] == "float32"
    assert dtypes["lm_head.weight"] == "bfloat16"


def test_fp8_checkpoint_needs_the_block_scale_scheme(weightcast_bin, tmp_path):
    make_qwen3(tmp_path / "src", fp8_blocks=(32, 32))
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_1",
                         "-o", tmp_path / "o", check=False),
                 "The input qwen3 model is fp8 block quantized. Please use BlockScaleQuantize for the model.")


def test_block_scale_needs_an_fp8_checkpoint(weightcast_bin, tmp_path):
    make_qwen3(tmp_path / "src")
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization",
                         "fp8_e4m3fn_bf16_block_scale", "-o", tmp_path / "o", check=False),
                 "is not fp8 block quantized. Thus BlockScaleQuantize is not supported.")


def test_block_scale_on_an_architecture_without_it(weightcast_bin, checkpoints, tmp_path):
    assert_error(run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization",
                         "fp8_e4m3fn_bf16_block_scale", "-o", tmp_path / "o", check=False),
                 "quantization kind 'block-scale-quant'", "is not available for model type llama")


def test_missing_field_is_named(weightcast_bin, tmp_path):
    make_qwen3(tmp_path / "src")
    edit_config(tmp_path / "src", attention_bias=None)
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q0f16",
                         "-o", tmp_path / "o", check=False), 'missing required field "attention_bias"')


def test_fp8_checkpoint_without_scales(weightcast_bin, tmp_path):
    make_qwen3(tmp_path / "src", fp8_blocks=(32, 32), drop=["model.layers.1.mlp.down_proj.weight_scale_inv"])
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "fp8_e4m3fn_bf16_block_scale",
                         "-o", tmp_path / "o", check=False),
                 "The following extern parameters do not exist in the weight files: "
                 "model.layers.1.mlp.down_proj.weight_scale_inv")


def test_per_tensor_fp8_on_an_architecture_without_it(weightcast_bin, tmp_path):
    make_qwen3(tmp_path / "src")
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "e4m3_e4m3_f16",
                         "-o", tmp_path / "o", check=False),
                 "quantization kind 'per-tensor-quant'", "is not available for model type qwen3")
