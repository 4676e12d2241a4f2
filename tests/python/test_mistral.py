"""Mistral: Llama's layout and mapping, an lm_head always, a sliding window instead of a length."""
import json
import shutil

import pytest

import mlc_oracle
from conftest import run_cli
from test_bad_input import assert_error
from test_golden import assert_same_files


def as_mistral(src, dst, tied=None):
    shutil.copytree(src, dst)
    cfg = json.load(open(dst / "config.json"))
    cfg["model_type"] = "mistral"
    cfg["sliding_window"] = 4096
    del cfg["max_position_embeddings"]
    if tied is not None:
        cfg["tie_word_embeddings"] = tied
    json.dump(cfg, open(dst / "config.json", "w"))


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1", "q3f16_0"])
def test_mistral_converts_like_llama(weightcast_bin, checkpoints, tmp_path, scheme):
    as_mistral(checkpoints["bf16-untied"], tmp_path / "src")
    mlc_oracle.convert(checkpoints["bf16-untied"], scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def test_mistral_always_reads_lm_head(weightcast_bin, checkpoints, tmp_path):
    # The tied Llama fixture carries an lm_head.weight: Mistral uses it instead of warning.
    as_mistral(checkpoints["f32-tied-sharded"], tmp_path / "src")
    proc = run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q0f16", "-o", tmp_path / "o")
    assert "Unused extern parameters" not in proc.stdout
    manifest = json.load(open(tmp_path / "o" / "tensor-cache.json"))
    assert "lm_head.weight" in {r["name"] for s in manifest["records"] for r in s["records"]}


def test_mistral_kv_heads_split_error(weightcast_bin, checkpoints, tmp_path):
    as_mistral(checkpoints["bf16-untied"], tmp_path / "src")
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q0f16",
                         "--tensor-parallel-shards", "4", "-o", tmp_path / "o", check=False),
                 "Cannot split 2 key-value attention heads evenly to 4 GPUs.")
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_autoawq",
                         "-o", tmp_path / "o", check=False), "is not available for model type mistral")
