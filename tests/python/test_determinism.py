"""The same bytes at every thread count and on every SIMD path."""
import os
import subprocess

import pytest

import make_fixtures
from conftest import assert_same_files


@pytest.fixture(scope="module")
def mid_checkpoint(tmp_path_factory):
    """Large enough that every tensor splits into many row blocks across threads."""
    cfg = make_fixtures.config_for(False, None, layers=1, hidden=512, inter=1376, heads=8, kv_heads=4, vocab=3000)
    path = tmp_path_factory.mktemp("mid") / "ckpt"
    make_fixtures.write_synthetic(str(path), cfg=cfg, fill="random", seed=9)
    return str(path)


@pytest.mark.parametrize("scheme", ["q4f16_1", "q3f16_0", "q4bf16_0", "q4f32_1", "q0f16", "q0f32"])
def test_threads_and_simd_paths_agree(weightcast_bin, mid_checkpoint, tmp_path, scheme):
    src = mid_checkpoint
    runs = {}
    runs_at = [("t1", 1, None), ("t2", 2, None), ("t8", 8, None), ("avx2", 2, "avx2"), ("scalar", 2, "scalar")]
    for label, threads, simd in runs_at:
        env = dict(os.environ)
        env.pop("WEIGHTCAST_SIMD", None)
        if simd:
            env["WEIGHTCAST_SIMD"] = simd
        out = tmp_path / label
        proc = subprocess.run([weightcast_bin, "convert", src, "--quantization", scheme, "--threads", str(threads),
                               "-o", out, "-q"], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        runs[label] = out
    for label in ["t2", "t8", "avx2", "scalar"]:
        assert_same_files(runs["t1"], runs[label])
