"""What is particular about Ministral 3, Qwen v1, Orion, GPT-J and Phi-msft beyond the shared
architecture tests: pre-sharding (or MLC's refusal of it), the vision tower MLC leaves unread,
FP8 Ministral 3 releases, and the configs MLC refuses."""
import pytest

import arch_cases_more
import make_arch_fixtures
import mlc_oracle
from conftest import assert_error, assert_same_files, convert, edit_config, run_cli
from hf_checkpoint import random_tensor, write_checkpoint


def make(tmp_path, case, **overrides):
    src = tmp_path / "src"
    make_arch_fixtures.make(case, str(src), config_overrides=overrides)
    return src


@pytest.mark.parametrize("case", ["ministral3", "ministral3-text", "qwen", "orion", "phi-msft",
                                  "mixformer-sequential"])
def test_preshard_matches_the_oracle(weightcast_bin, tmp_path, case, scheme="q0f16"):
    """q0f16: the fixtures' 96-wide inputs are 3 groups of 32, which q4 cannot split in two."""
    src = make(tmp_path, case)
    mlc_oracle.convert(str(src), scheme, str(tmp_path / "expected"), shards=2)
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "--tensor-parallel-shards", "2",
            "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def test_gptj_is_not_presharded(weightcast_bin, tmp_path):
    proc = convert(weightcast_bin, make(tmp_path, "gptj"), tmp_path / "o", "--tensor-parallel-shards", "2",
                   scheme="q0f16")
    assert_error(proc, "gptj cannot be pre-sharded", code=proc.returncode)
    assert proc.returncode != 0


def test_ministral3_leaves_the_vision_tower_unread(weightcast_bin, tmp_path):
    """Pixtral's tensors are not converted: MLC warns about them and counts them in the statistics."""
    import numpy as np
    import ml_dtypes
    cfg, _ = arch_cases_more.CASES["ministral3"]()
    shapes = arch_cases_more.ministral3_layout(cfg, vision_tower=True)
    rng = np.random.default_rng(0)
    tensors = {k: random_tensor(k, s, rng).astype(np.float32).astype(ml_dtypes.bfloat16) for k, s in shapes.items()}
    write_checkpoint(str(tmp_path / "src"), cfg, tensors)
    mlc_oracle.convert(str(tmp_path / "src"), "q4f16_1", str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_1", "-o", tmp_path / "out")
    assert "Unused extern parameters: multi_modal_projector.linear_1.weight" in proc.stdout
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("qc,message", [
    ({"quant_method": "fp8", "activation_scheme": "static", "weight_block_size": None},
     "FP8 Ministral 3 checkpoints (the block-scale schemes) are not supported yet"),
    ({"quant_method": "fp8", "activation_scheme": "dynamic"}, "only FP8 static quantization is supported"),
    ("awq", "unrecognized quantization config"),
])
def test_ministral3_quantization_configs(weightcast_bin, tmp_path, qc, message):
    src = make(tmp_path, "ministral3-text", quantization_config=qc)
    proc = convert(weightcast_bin, src, tmp_path / "o", scheme="q4f16_1")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("case,changes,message", [
    ("qwen", {"kv_channels": None}, '"kv_channels"'),
    ("qwen", {"max_position_embeddings": None, "seq_length": None}, "Unable to determine the maximum sequence length"),
    ("orion", {"num_key_value_heads": 3}, "num_key_value_heads"),
    ("gptj", {"n_inner": "drop"}, "n_inner is missing"),
    ("gptj", {"activation_function": "tanh"}, 'activation_function "tanh"'),
    ("phi-msft", {"model_type": "phi"}, "model_type"),
])
def test_configs_mlc_refuses(weightcast_bin, tmp_path, case, changes, message):
    src = make(tmp_path, case)
    cfg = edit_config(src, **{k: v for k, v in changes.items() if v != "drop"})
    if "drop" in changes.values():
        import json
        for k in [k for k, v in changes.items() if v == "drop"]:
            cfg.pop(k)
        (src / "config.json").write_text(json.dumps(cfg))
    args = ["--model-type", "phi-msft"] if case == "phi-msft" else []
    proc = convert(weightcast_bin, src, tmp_path / "o", *args, scheme="q0f16")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_orion_has_no_ft_quant(weightcast_bin, tmp_path):
    proc = convert(weightcast_bin, make(tmp_path, "orion"), tmp_path / "o", scheme="q4f16_ft")
    assert proc.returncode != 0 and "is not available for model type orion" in proc.stderr, proc.stderr
