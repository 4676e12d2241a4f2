"""The output loads through a real client, TVM's own tensor-cache reader (pip apache-tvm)."""
import numpy as np
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import run_cli

tvm = pytest.importorskip("tvm", reason="apache-tvm is not installed")
from tvm.contrib import tvmjs  # noqa: E402


def bf16_roundtrip(a):
    """What tvmjs's f32-to-bf16 encoding gives back: the bf16 bits widened to float32."""
    bits = np.frombuffer(mlc_oracle.f32_to_bf16_bytes(a), np.uint16).astype(np.uint32) << 16
    return bits.view(np.float32).reshape(a.shape)


@pytest.mark.parametrize("scheme", ["q0f16", "q0bf16", "q0f32", "q4f16_1", "q3f16_0", "q4bf16_0", "q4f32_1", "q4f16_2"])
def test_tvm_reads_back_what_the_oracle_computed(weightcast_bin, checkpoints, tmp_path, scheme):
    src = checkpoints["f32-tied-sharded"]
    expected, _ = mlc_oracle.convert(src, scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out")
    params, metadata = tvmjs.load_tensor_cache(str(tmp_path / "out"), tvm.cpu())
    assert metadata["ParamSize"] == len(expected)
    assert sorted(params) == sorted(expected)
    for name, want in expected.items():
        got = params[name].numpy()
        assert got.shape == want.shape, name
        if want.dtype == np.float32:
            want = bf16_roundtrip(want)
        assert got.dtype.itemsize == want.dtype.itemsize, name
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), name


@pytest.mark.parametrize("case", ["qwen2_moe", "gpt_neox", "deepseek_v3"])
def test_tvm_reads_other_architectures(weightcast_bin, tmp_path, case):
    """Stacked experts (3-D q_weight), float32 biases, MLA's w_uk / w_uv."""
    make_arch_fixtures.make(case, str(tmp_path / "src"))
    expected, _ = mlc_oracle.convert(str(tmp_path / "src"), "q4f16_1", str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_1", "-o", tmp_path / "out")
    params, _ = tvmjs.load_tensor_cache(str(tmp_path / "out"), tvm.cpu())
    assert sorted(params) == sorted(expected)
    for name, want in expected.items():
        if want.dtype == np.float32:
            want = bf16_roundtrip(want)
        assert params[name].numpy().tobytes() == np.ascontiguousarray(want).tobytes(), name
