"""Pre-sharding for tensor parallelism (MLC_INTERNAL_PRESHARD_NUM / --tensor-parallel-shards)."""
import os
import subprocess

import numpy as np
import pytest

import arch_oracle
import make_fixtures
import mlc_oracle
from conftest import assert_error, assert_same_files, run_cli


@pytest.fixture(scope="module")
def tp_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("tp") / "ckpt"
    make_fixtures.make_variant(str(path), "bf16-tp")
    return str(path)


def run_preshard(binary, src, scheme, out, n, via_env):
    env = dict(os.environ)
    args = [binary, "convert", src, "--quantization", scheme, "-o", out]
    if via_env:
        env["MLC_INTERNAL_PRESHARD_NUM"] = str(n)
    else:
        args += ["--tensor-parallel-shards", str(n)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1", "q4f32_1", "e4m3_e4m3_f16", "e5m2_e5m2_f16"])
@pytest.mark.parametrize("n", [2, 4])
def test_presharded_output_matches_the_oracle(weightcast_bin, tp_checkpoint, tmp_path, scheme, n):
    mlc_oracle.convert(tp_checkpoint, scheme, str(tmp_path / "expected"), shards=n)
    run_preshard(weightcast_bin, tp_checkpoint, scheme, tmp_path / "env", n, via_env=True)
    run_preshard(weightcast_bin, tp_checkpoint, scheme, tmp_path / "flag", n, via_env=False)
    assert_same_files(tmp_path / "expected", tmp_path / "env")
    assert_same_files(tmp_path / "expected", tmp_path / "flag")


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1"])
def test_shards_reassemble_to_the_unsharded_output(weightcast_bin, tp_checkpoint, tmp_path, scheme):
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    n = 4
    run_cli(weightcast_bin, "convert", tp_checkpoint, "--quantization", scheme, "-o", tmp_path / "whole")
    run_preshard(weightcast_bin, tp_checkpoint, scheme, tmp_path / "sharded", n, via_env=False)
    whole = {k: v.numpy() for k, v in tvmjs.load_tensor_cache(str(tmp_path / "whole"), tvm.cpu())[0].items()}
    sharded = {k: v.numpy() for k, v in tvmjs.load_tensor_cache(str(tmp_path / "sharded"), tvm.cpu())[0].items()}
    _, _, strategies = arch_oracle.PARAMS["llama"](
        {"num_attention_heads": 8, "num_key_value_heads": 4, "hidden_size": 128, "intermediate_size": 256,
         "num_hidden_layers": 2}, n)
    for name, full in whole.items():
        base = name.rsplit(".", 1)[0] + ".weight"
        if base not in strategies:
            assert np.array_equal(sharded[name], full), name  # replicated: stored once, unchanged
            continue
        dim, segs = strategies[base]
        pieces = [sharded[f"{name}_shard-{i}"] for i in range(n)]
        if segs is None:
            rebuilt = np.concatenate(pieces, axis=dim)
        else:  # undo the segment-aware split: segment j gathers its slice from every shard
            rebuilt, start = [], 0
            for seg in segs:
                rebuilt += [p.take(range(start, start + seg), axis=dim) for p in pieces]
                start += seg
            rebuilt = np.concatenate(rebuilt, axis=dim)
        assert np.array_equal(rebuilt, full), name


def test_heads_that_do_not_divide_are_refused(weightcast_bin, tp_checkpoint, tmp_path):
    assert_error(run_cli(weightcast_bin, "convert", tp_checkpoint, "--quantization", "q0f16",
                         "--tensor-parallel-shards", "8", "-o", tmp_path / "o", check=False),
                 "num_kv_heads(4) must be divisible by tensor_parallel_shards")
    assert_error(run_cli(weightcast_bin, "convert", tp_checkpoint, "--quantization", "q0f16",
                         "--tensor-parallel-shards", "3", "-o", tmp_path / "o", check=False),
                 "Cannot split MLP intermediate size 256 evenly to 3 GPUs.")


def test_kn_layouts_are_refused(weightcast_bin, tp_checkpoint, tmp_path):
    assert_error(run_cli(weightcast_bin, "convert", tp_checkpoint, "--quantization", "q4f16_0",
                         "--tensor-parallel-shards", "2", "-o", tmp_path / "o", check=False),
                 "pre-sharding is not possible with q4f16_0 (KN layout)")


def test_groups_that_do_not_split_are_refused(weightcast_bin, tp_checkpoint, tmp_path):
    # q3f16_1: K = 256 has 7 groups of 40; two shards of 128 would need 4 + 4.
    assert_error(run_cli(weightcast_bin, "convert", tp_checkpoint, "--quantization", "q3f16_1",
                         "--tensor-parallel-shards", "2", "-o", tmp_path / "o", check=False),
                 "groups of 40 do not split evenly")


def test_mlc_group_check_message(weightcast_bin, checkpoints, tmp_path):
    # The bundled sizes: down_proj has 100 inputs, 50 per shard; MLC checks (50 * 2 // 32) % 2.
    assert_error(run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization", "q4f16_1",
                         "--tensor-parallel-shards", "2", "-o", tmp_path / "o", check=False),
                 "The linear dimension 100 has 3 groups under group size 32. The groups cannot be evenly "
                 "distributed on 2 GPUs.")


def test_preshard_variable_that_is_not_a_number(weightcast_bin, tp_checkpoint, tmp_path):
    env = dict(os.environ, MLC_INTERNAL_PRESHARD_NUM="two")
    proc = subprocess.run([weightcast_bin, "convert", tp_checkpoint, "--quantization", "q0f16", "-o", tmp_path / "o"],
                          capture_output=True, text=True, env=env)
    assert_error(proc, "MLC_INTERNAL_PRESHARD_NUM=two is not an integer")
