"""weightcast's output against the independent numpy oracle, byte for byte."""
import filecmp
import json
import shutil
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import mlc_oracle
from conftest import EXAMPLE, assert_same_files, edit_tensors, manifest_records, run_cli

ALL_SCHEMES = mlc_oracle.DENSE_SCHEMES


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
    src = checkpoints["f32-tied-sharded"]
    records, _ = mlc_oracle.convert(src, scheme, str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out", "--dry-run")
    table = json.loads(proc.stdout[proc.stdout.index("["):])
    assert [(r["name"], tuple(r["shape"])) for r in table] == [(n, a.shape) for n, a in records.items()]
    assert table[0]["sources"] and all(isinstance(s, str) for r in table for s in r["sources"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda"])
@pytest.mark.parametrize("scheme", ["e5m2_e5m2_f16", "e4m3_e4m3_f16", "e4m3_e4m3_f16_max_calibrate"])
def test_per_tensor_fp8_records(weightcast_bin, checkpoints, tmp_path, scheme, device):
    """The records, scales and FP8 codes of per-tensor FP8: TVM's CPU cast for --device cpu and
    auto (MLC's --device cpu bytes), nearest even with subnormals for cuda (a GPU cast);
    q_calibration_scale is written as zeros."""
    src = checkpoints["bf16-untied"]
    gpus = Path("/proc/driver/nvidia/gpus")  # auto picks a GPU where there is one, as MLC does
    cast = "cuda" if device == "auto" and gpus.is_dir() and any(gpus.iterdir()) else device
    records, _ = mlc_oracle.convert(src, scheme, str(tmp_path / "expected"), device=cast)
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "--device", device, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    names = {name: r["dtype"] for name, r in manifest_records(tmp_path / "out").items()}
    fp8 = "float8_e5m2" if scheme.startswith("e5m2") else "float8_e4m3fn"
    assert names["model.layers.0.mlp.down_proj.q_weight"] == fp8
    assert ("model.layers.0.mlp.down_proj.q_scale" in names) == (fp8 == "float8_e4m3fn")
    assert ("model.layers.0.mlp.down_proj.q_calibration_scale" in names) == (scheme == "e4m3_e4m3_f16")
    assert names["lm_head.weight"] == "float16" and names["model.embed_tokens.weight"] == "float16"


def test_per_tensor_fp8_devices_differ_only_below_the_smallest_normal(weightcast_bin, checkpoints, tmp_path):
    """The fixture's weights reach e4m3's subnormal range after scaling: the CPU and GPU packs
    differ there, and only in q_weight codes whose nearest-even value is at most 2^-6 (inputs just
    below the smallest normal round up to it)."""
    src = checkpoints["bf16-untied"]
    for device in ("cpu", "cuda"):
        run_cli(weightcast_bin, "convert", src, "--quantization", "e4m3_e4m3_f16", "--device", device,
                "-o", tmp_path / device)
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    cpu, _ = tvmjs.load_tensor_cache(str(tmp_path / "cpu"), tvm.cpu())
    gpu, _ = tvmjs.load_tensor_cache(str(tmp_path / "cuda"), tvm.cpu())
    differing = 0
    for name in cpu:
        a, b = cpu[name].numpy(), gpu[name].numpy()
        if a.dtype != np.dtype(ml_dtypes.float8_e4m3fn):
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
            continue
        diff = a.view(np.uint8) != b.view(np.uint8)
        differing += int(diff.sum())
        assert (np.abs(b[diff].astype(np.float32)) <= 2.0 ** -6).all(), name
    assert differing > 0


def test_fp8_rounding_matches_ml_dtypes_on_awkward_values(weightcast_bin, tmp_path):
    """e5m2 casts float16 weights directly: subnormals, exact ties, the largest finite values,
    overflow, infinities and NaN, against ml_dtypes (the nearest-even cast of --device cuda)."""
    src = tmp_path / "src"
    shutil.copytree(EXAMPLE, src)
    name = "model.layers.0.mlp.down_proj.weight"

    def plant(tensors):
        values = np.concatenate([
            np.array([0.0, -0.0, 2 ** -16, 2 ** -17, 3 * 2 ** -17, 2 ** -14, 1.125, 1.375, 57344, 60000, 61440, 65504,
                      np.inf, -np.inf, np.nan, -2.5, 0.3], np.float32),
            np.linspace(-70000, 70000, tensors[name].size - 17, dtype=np.float32)])
        tensors[name] = values.astype(ml_dtypes.bfloat16).reshape(tensors[name].shape)
    t = edit_tensors(src / "model.safetensors", plant)
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    x = t[name].astype(np.float16).astype(np.float32).reshape(-1)
    nan = np.isnan(x)
    for device in ("cuda", "cpu"):
        run_cli(weightcast_bin, "convert", src, "--quantization", "e5m2_e5m2_f16", "--device", device,
                "-o", tmp_path / device)
        params, _ = tvmjs.load_tensor_cache(str(tmp_path / device), tvm.cpu())
        got = params["model.layers.0.mlp.down_proj.q_weight"].numpy().view(np.uint8).reshape(-1)
        if device == "cuda":
            with np.errstate(over="ignore"):
                want = x.astype(ml_dtypes.float8_e5m2).view(np.uint8)
        else:  # TVM's CPU cast: differs from nearest even below 2^-14 only
            want = mlc_oracle.fp8_codes(x, "e5m2", "cpu")
        assert np.array_equal(got[~nan], want[~nan]), device
        assert np.all((got[nan] & 0x7F) > 0x7C), device  # NaN stays NaN
