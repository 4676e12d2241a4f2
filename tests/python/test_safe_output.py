"""Output is never left half-written: a killed or interrupted run leaves no manifest that points at
missing or partial shards, and an earlier complete output stays valid."""
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

import make_fixtures
from conftest import run_cli

STAGING = ".weightcast-staging"  # each run's folder is this name + "-<pid>-<random>"


def staged(out):
    return [out / n for n in os.listdir(out) if n.startswith(STAGING)] if out.is_dir() else []


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory):
    # ~270 MB of bf16 (a sparse file): enough for several 32 MiB shards under q0f32.
    cfg = make_fixtures.config_for(False, None, layers=6, hidden=1024, inter=2816, heads=16, kv_heads=4, vocab=32000)
    path = tmp_path_factory.mktemp("big") / "ckpt"
    make_fixtures.write_synthetic(str(path), cfg=cfg, fill="zeros")
    return path


def manifest_is_consistent(out):
    """True when every shard the manifest names exists with the recorded size and md5."""
    m = json.load(open(out / "tensor-cache.json"))
    for shard in m["records"]:
        data = open(out / shard["dataPath"], "rb").read()
        if len(data) != shard["nbytes"] or hashlib.md5(data).hexdigest() != shard["md5sum"]:
            return False
    return True


def start_and_wait_for_shards(binary, src, out, quantization="q0f32"):
    proc = subprocess.Popen([binary, "convert", str(src), "--quantization", quantization, "-o", str(out),
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if any(n.startswith("params_shard_") for d in staged(out) for n in os.listdir(d)):
            return proc
        time.sleep(0.005)
    proc.kill()
    pytest.fail("the conversion finished before it could be interrupted; make the fixture larger")


def test_sigkill_mid_write_leaves_no_manifest(weightcast_bin, big_checkpoint, tmp_path):
    out = tmp_path / "out"
    proc = start_and_wait_for_shards(weightcast_bin, big_checkpoint, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "tensor-cache.json").exists()
    assert not any(n.startswith("params_shard_") for n in os.listdir(out))
    # The next run cleans up what the killed one staged and completes.
    run_cli(weightcast_bin, "convert", big_checkpoint, "--quantization", "q4f16_1", "-o", out)
    assert not staged(out)
    assert manifest_is_consistent(out)


def test_sigkill_keeps_an_earlier_complete_output_valid(weightcast_bin, big_checkpoint, checkpoints, tmp_path):
    out = tmp_path / "out"
    run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization", "q4f16_1", "-o", out)
    before = open(out / "tensor-cache.json").read()
    proc = start_and_wait_for_shards(weightcast_bin, big_checkpoint, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert open(out / "tensor-cache.json").read() == before
    assert manifest_is_consistent(out)


def test_sigint_stops_cleanly(weightcast_bin, big_checkpoint, tmp_path):
    out = tmp_path / "out"
    proc = start_and_wait_for_shards(weightcast_bin, big_checkpoint, out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Interrupted" in err
    assert os.listdir(out) == []  # staging removed, nothing else written


def test_rerun_leaves_no_stale_shard(weightcast_bin, big_checkpoint, checkpoints, tmp_path):
    out = tmp_path / "out"
    run_cli(weightcast_bin, "convert", big_checkpoint, "--quantization", "q0f32", "-o", out)
    assert len([n for n in os.listdir(out) if n.startswith("params_shard_")]) > 2
    assert (out / "tensor-cache-b16.json").exists()
    run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization", "q4f16_1", "-o", out)
    assert sorted(os.listdir(out)) == ["params_shard_0.bin", "tensor-cache.json"]
    assert manifest_is_consistent(out)
