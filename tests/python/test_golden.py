"""weightcast's output against the independent numpy oracle, byte for byte."""
import filecmp
import os
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


@pytest.mark.parametrize("scheme", ["e5m2_e5m2_f16", "e4m3_e4m3_f16", "e4m3_e4m3_f16_max_calibrate"])
def test_per_tensor_fp8_records(weightcast_bin, checkpoints, tmp_path, scheme):
    """The records, scales and FP8 codes of spec 5.4 (codes rounded to nearest even, with
    subnormals, as ml_dtypes does); q_calibration_scale is written as zeros."""
    import json
    src = checkpoints["bf16-untied"]
    records, _ = mlc_oracle.convert(src, scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    manifest = json.load(open(tmp_path / "out" / "tensor-cache.json"))
    names = {r["name"]: r["dtype"] for s in manifest["records"] for r in s["records"]}
    fp8 = "float8_e5m2" if scheme.startswith("e5m2") else "float8_e4m3fn"
    assert names["model.layers.0.mlp.down_proj.q_weight"] == fp8
    assert ("model.layers.0.mlp.down_proj.q_scale" in names) == (fp8 == "float8_e4m3fn")
    assert ("model.layers.0.mlp.down_proj.q_calibration_scale" in names) == (scheme == "e4m3_e4m3_f16")
    assert names["lm_head.weight"] == "float16" and names["model.embed_tokens.weight"] == "float16"


def test_fp8_rounding_matches_ml_dtypes_on_awkward_values(weightcast_bin, tmp_path):
    """e5m2 casts float16 weights directly: subnormals, exact ties, the largest finite values,
    overflow, infinities and NaN, against ml_dtypes."""
    import ml_dtypes
    import numpy as np
    import shutil
    from safetensors.numpy import load_file, save_file
    src = tmp_path / "src"
    shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "tiny-llama"), src)
    t = load_file(str(src / "model.safetensors"))
    name = "model.layers.0.mlp.down_proj.weight"
    values = np.concatenate([
        np.array([0.0, -0.0, 2 ** -16, 2 ** -17, 3 * 2 ** -17, 2 ** -14, 1.125, 1.375, 57344, 60000, 61440, 65504,
                  np.inf, -np.inf, np.nan, -2.5, 0.3], np.float32),
        np.linspace(-70000, 70000, t[name].size - 17, dtype=np.float32)])
    t[name] = values.astype(ml_dtypes.bfloat16).reshape(t[name].shape)
    save_file(t, str(src / "model.safetensors"))
    run_cli(weightcast_bin, "convert", src, "--quantization", "e5m2_e5m2_f16", "-o", tmp_path / "out")
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    params, _ = tvmjs.load_tensor_cache(str(tmp_path / "out"), tvm.cpu())
    got = params["model.layers.0.mlp.down_proj.q_weight"].numpy().view(np.uint8).reshape(-1)
    with np.errstate(over="ignore"):
        want = t[name].astype(np.float16).astype(np.float32).astype(ml_dtypes.float8_e5m2).view(np.uint8).reshape(-1)
    nan = np.isnan(t[name].astype(np.float32).reshape(-1))
    assert np.array_equal(got[~nan], want[~nan])
    assert np.all((got[nan] & 0x7F) > 0x7C)  # NaN stays NaN
