"""The two float32 -> FP8 casts of the per-tensor schemes, checked value by value against models
of each rule in the oracle (mlc_oracle.fp8_codes), written from their descriptions
(docs/mlc-format.md#per-tensor-fp8), not from the C++:

- nearest even (`--device cuda`): ml_dtypes' float8_e4m3fn / float8_e5m2 casts;
- TVM's CPU lowering (`--device cpu`, `auto`): the significand rounded to the FP8 mantissa width
  first (nearest even, a carry moving into the exponent); a biased exponent >= 1 is the normal
  encoding, 0 gives sign | rounded fraction bits (the implicit 1 dropped), < 0 gives +0.

Inputs: every float16 bit pattern, and random float32 values concentrated around FP8's subnormal
range, where the two casts differ.
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mlc_oracle import fp8_codes


def cast_tool():
    tool = os.environ.get("WEIGHTCAST_FP8_CAST_TOOL")
    if tool:
        return Path(tool)
    return Path(__file__).resolve().parents[2] / "build" / "tests" / "fp8_cast_tool"


def nearest_even_codes(x, fmt):
    return fp8_codes(x, fmt, "cuda")


def tvm_cpu_codes(x, fmt):
    return fp8_codes(x, fmt, "cpu")


def inputs():
    with np.errstate(invalid="ignore"):  # the float16 NaNs stay NaN
        every_f16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    rng = np.random.default_rng(19)
    n = 1 << 20
    # Magnitudes 2^-30 .. 2^17: the subnormal ranges of both formats, their normals and overflow.
    magnitudes = np.exp2(rng.uniform(-30, 17, n)).astype(np.float32)
    signs = np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)
    random_f32 = magnitudes * signs
    # Exact halfway points between FP8 subnormal codes, where ties decide.
    ties = np.concatenate([np.arange(1, 64) * 2.0 ** -10 + 2.0 ** -11,
                           np.arange(1, 32) * 2.0 ** -17 + 2.0 ** -18]).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 448.0, 464.0, 57344.0, 61440.0],
                        dtype=np.float32)
    return np.concatenate([every_f16, random_f32, ties, -ties, specials]).astype(np.float32)


@pytest.fixture(scope="module")
def cast_results(tmp_path_factory):
    tool = cast_tool()
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build the project (target fp8_cast_tool) first")
    work = tmp_path_factory.mktemp("fp8")
    x = inputs()
    (work / "values.f32").write_bytes(x.tobytes())
    subprocess.run([str(tool), str(work / "values.f32"), str(work / "codes")], check=True)
    read = lambda suffix: np.frombuffer((work / f"codes.{suffix}").read_bytes(), np.uint8)
    return x, read


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_nearest_even_cast_matches_ml_dtypes(cast_results, fmt):
    x, read = cast_results
    got, want = read(f"{fmt}.cuda"), nearest_even_codes(x, fmt)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} mismatches, first x={x[bad[:5]]} got={got[bad[:5]]} want={want[bad[:5]]}"


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_cpu_cast_matches_tvm_rule(cast_results, fmt):
    x, read = cast_results
    got, want = read(f"{fmt}.cpu"), tvm_cpu_codes(x, fmt)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} mismatches, first x={x[bad[:5]]} got={got[bad[:5]]} want={want[bad[:5]]}"


def test_the_casts_differ_only_below_the_smallest_normal(cast_results):
    x, read = cast_results
    for fmt, smallest_normal in (("e4m3", 2.0 ** -6), ("e5m2", 2.0 ** -14)):
        differ = read(f"{fmt}.cpu") != read(f"{fmt}.cuda")
        assert differ.any(), fmt  # the rules really are different
        assert (np.abs(x[differ]) < smallest_normal).all(), fmt


def test_cpu_cast_known_values():
    """The issue's worked example: e4m3 -0.00842 -> 0x81 on TVM's CPU path, 0x84 nearest even."""
    x = np.array([-0.00842], np.float32)
    assert tvm_cpu_codes(x, "e4m3")[0] == 0x81
    assert nearest_even_codes(x, "e4m3")[0] == 0x84
