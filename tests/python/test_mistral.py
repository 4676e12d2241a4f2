"""Mistral: Llama's layout and mapping, an lm_head always, a sliding window instead of a length."""
import shutil

import pytest

import mlc_oracle
from conftest import assert_error, assert_same_files, edit_config, manifest_records, run_cli


def as_mistral(src, dst):
    shutil.copytree(src, dst)
    edit_config(dst, model_type="mistral", sliding_window=4096, max_position_embeddings=None)


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
    assert "lm_head.weight" in manifest_records(tmp_path / "o")


def test_mistral_kv_heads_split_error(weightcast_bin, checkpoints, tmp_path):
    as_mistral(checkpoints["bf16-untied"], tmp_path / "src")
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q0f16",
                         "--tensor-parallel-shards", "4", "-o", tmp_path / "o", check=False),
                 "Cannot split 2 key-value attention heads evenly to 4 GPUs.")
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_autoawq",
                         "-o", tmp_path / "o", check=False), "is not available for model type mistral")
