"""weightcast's output against the independent numpy oracle, byte for byte."""
import filecmp
import os

import numpy as np
import pytest

import mlc_oracle
from conftest import run_cli

ALL_SCHEMES = mlc_oracle.DENSE_SCHEMES


def assert_same_files(expected_dir, actual_dir):
    expected = sorted(os.listdir(expected_dir))
    actual = sorted(os.listdir(actual_dir))
    assert actual == expected
    for name in expected:
        a, b = os.path.join(expected_dir, name), os.path.join(actual_dir, name)
        if not filecmp.cmp(a, b, shallow=False):
            if name.endswith(".json"):
                assert open(b).read() == open(a).read(), name
            raise AssertionError(f"{name} differs from the oracle's")


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
@pytest.mark.parametrize("variant", ["bf16-untied", "f32-tied-sharded", "f16-untied-sharded"])
def test_every_scheme_matches_the_oracle(weightcast_bin, checkpoints, tmp_path, scheme, variant):
    src = checkpoints[variant]
    mlc_oracle.convert(src, scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "actual")
    assert_same_files(tmp_path / "expected", tmp_path / "actual")


@pytest.mark.parametrize("scheme", ["q4f16_1", "q3f16_0", "q4bf16_0", "q4f32_1"])
def test_ties_away_rounding_matches_the_oracle(weightcast_bin, checkpoints, tmp_path, scheme):
    src = checkpoints["bf16-untied"]
    mlc_oracle.convert(src, scheme, str(tmp_path / "expected"), mode="ties-away")
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "--round-mode", "ties-away",
            "-o", tmp_path / "actual")
    assert_same_files(tmp_path / "expected", tmp_path / "actual")
    # The fixtures plant exact ties, so the two modes must disagree somewhere.
    mlc_oracle.convert(src, scheme, str(tmp_path / "even"))
    assert not filecmp.cmp(tmp_path / "even" / "params_shard_0.bin",
                           tmp_path / "actual" / "params_shard_0.bin", shallow=False)


def test_fixture_exercises_ties_zero_groups_and_overflow(checkpoints, tmp_path):
    """Guards the fixtures themselves: the cases the golden tests rely on are present."""
    records, _ = mlc_oracle.convert(checkpoints["bf16-untied"], "q4f16_1", str(tmp_path / "o"))
    assert np.isinf(records["model.norm.weight"].astype(np.float32)).any()  # bf16 -> f16 overflow
    scale = records["model.embed_tokens.q_scale"]
    assert (scale == 0).any()  # all-zero groups
    assert records["model.embed_tokens.q_weight"].shape[-1] == 12  # K=72: 3 groups, last partial


def test_statistics_and_warnings(weightcast_bin, checkpoints, tmp_path):
    src = checkpoints["f32-tied-sharded"]
    _, total = mlc_oracle.convert(src, "q4f16_1", str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "o")
    out = proc.stdout
    # A tied checkpoint carrying lm_head.weight: warned about, and counted as MLC counts it.
    assert "Unused extern parameters: lm_head.weight" in out
    assert f"Total parameters: {total:,}" in out
    assert "Bits per parameter: " in out and "Parameter size after quantization: " in out
    assert f"Saved to directory: {tmp_path / 'o'}" in out


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1", "q3f16_0", "q4f32_1"])
def test_dry_run_lists_the_records_without_writing(weightcast_bin, checkpoints, tmp_path, scheme):
    import json
    src = checkpoints["f32-tied-sharded"]
    records, _ = mlc_oracle.convert(src, scheme, str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out", "--dry-run")
    table = json.loads(proc.stdout[proc.stdout.index("["):])
    assert [(r["name"], tuple(r["shape"])) for r in table] == [(n, a.shape) for n, a in records.items()]
    assert table[0]["sources"] and all(isinstance(s, str) for r in table for s in r["sources"])
    assert not (tmp_path / "out").exists()
