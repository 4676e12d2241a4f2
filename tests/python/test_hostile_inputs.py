"""Hostile inputs to the parsers (issue 12): deep nesting, quadratic-time JSON, crafted files
that would take gigabytes of memory, and index files that name paths outside the checkpoint.
Each case must end in a one-line error (never a crash), in bounded time and memory."""
import json
import os
import resource
import shutil
import struct
import subprocess
import sys

import pytest

from conftest import EXAMPLE, assert_error, convert, skip_under_sanitizers

MIB = 1 << 20

# Runs a command in a fresh interpreter and prints the peak RSS (bytes) of the command alone.
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(p.stderr)\n"
    "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
)


def run_measured(*args):
    """(returncode, stderr, peak RSS in bytes) of one weightcast run."""
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS, *map(str, args)],
                          capture_output=True, text=True)
    code, rss = proc.stdout.split()
    return subprocess.CompletedProcess(args, int(code), "", proc.stderr), int(rss)


def assert_bounded(rss, input_size):
    assert rss < 4 * input_size + 64 * MIB, f"peak RSS {rss / MIB:.0f} MiB for {input_size / MIB:.0f} MiB"


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    shutil.copytree(EXAMPLE, d)
    return d


def sharded(src):
    """The example as a one-shard indexed checkpoint; returns the index path."""
    os.rename(src / "model.safetensors", src / "model-00001-of-00001.safetensors")
    return src / "model.safetensors.index.json"


def write_safetensors(path, header_text, data=b""):
    raw = header_text.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data)


# ---------------------------------------------------------------- nesting


def test_deeply_nested_config_is_a_clear_error(weightcast_bin, src, tmp_path):
    (src / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), "config.json: invalid JSON",
                 "nested deeper than 128 levels")


def test_deeply_nested_index_and_header_are_clear_errors(weightcast_bin, src, tmp_path):
    index = sharded(src)
    index.write_text('{"weight_map": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), str(index), "nested deeper than")
    path = tmp_path / "deep.safetensors"
    write_safetensors(path, '{"a": ' + "[" * 100_000)
    assert_error(subprocess.run([weightcast_bin, "inspect", path], capture_output=True, text=True),
                 "invalid safetensors JSON header: nested deeper than 128 levels")


# ---------------------------------------------------------------- linear time


def _time(fn):
    """Best of three, in the CPU seconds the child processes used: wall time on a loaded machine
    measures the load, not the parser."""
    def child_cpu():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    best = float("inf")
    for _ in range(3):
        start = child_cpu()
        fn()
        best = min(best, child_cpu() - start)
    return best


def test_index_parse_time_is_linear(weightcast_bin, src, tmp_path):
    skip_under_sanitizers(weightcast_bin, "timing")
    index = sharded(src)

    def run(n):
        names = {f"model.layers.{i}.mlp.experts.{i}.down_proj.weight": "model-00001-of-00001.safetensors"
                 for i in range(n)}
        index.write_text(json.dumps({"metadata": {"total_size": 1}, "weight_map": names}))
        proc = convert(weightcast_bin, src, tmp_path / "out")
        assert_error(proc, "which does not contain it")

    small, large = _time(lambda: run(10_000)), _time(lambda: run(100_000))
    assert large < 10 * small + 0.1, (small, large)  # the quadratic reader took 20 s
    assert large < 2.0, large


def test_safetensors_header_parse_time_is_linear(weightcast_bin, tmp_path):
    skip_under_sanitizers(weightcast_bin, "timing")
    path = tmp_path / "many.safetensors"

    def run(n):
        entries = ",".join(f'"t.{i}.weight":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
                           for i in range(n))
        write_safetensors(path, "{" + entries + ',"last":{"dtype":"Q9","shape":[],"data_offsets":[0,0]}}')
        proc = subprocess.run([weightcast_bin, "inspect", path], capture_output=True, text=True)
        assert_error(proc, 'tensor "last": unknown dtype "Q9"')

    small, large = _time(lambda: run(10_000)), _time(lambda: run(100_000))
    assert large < 10 * small + 0.1, (small, large)  # the quadratic reader took 20 s
    assert large < 2.0, large


# ---------------------------------------------------------------- bounded memory


def test_huge_header_of_nested_arrays_has_bounded_memory(weightcast_bin, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    path = tmp_path / "arrays.safetensors"
    body = "[]," * (98_000_000 // 3)
    write_safetensors(path, '{"a":{"dtype":"F32","shape":[' + body + '[]],"data_offsets":[0,0]}}')
    proc, rss = run_measured(weightcast_bin, "inspect", path)
    assert_error(proc, 'tensor "a": shape holds a non-integer or negative')
    assert_bounded(rss, os.path.getsize(path))


def test_huge_config_of_nested_arrays_has_bounded_memory(weightcast_bin, src, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    config = src / "config.json"
    config.write_text("[" + "[]," * (30_000_000 // 3) + "[]]")
    proc, rss = run_measured(weightcast_bin, "convert", src, "--quantization", "q0f16", "-o", tmp_path / "out")
    assert_error(proc, "config.json: invalid JSON", "needs more memory than its size justifies")
    assert_bounded(rss, os.path.getsize(config))


def test_pickle_of_ten_million_ints_has_bounded_memory(weightcast_bin, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    path = tmp_path / "ints.bin"
    with open(path, "wb") as f:  # legacy-format pickle: a list of 10 million BININTs
        f.write(b"\x80\x02](" + b"J\x07\x00\x00\x01" * 10_000_000 + b"e.")
    proc, rss = run_measured(weightcast_bin, "inspect", path)
    assert_error(proc, str(path), "builds more values than a file of its size can describe")
    assert_bounded(rss, os.path.getsize(path))


def test_pickle_memo_and_dup_floods_have_bounded_memory(weightcast_bin, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    for name, body in [("memo", b"N" + b"\x94" * 30_000_000), ("dup", b"N" + b"2" * 30_000_000)]:
        path = tmp_path / f"{name}.bin"
        path.write_bytes(b"\x80\x02" + body + b".")
        proc, rss = run_measured(weightcast_bin, "inspect", path)
        assert_error(proc, "builds more values than a file of its size can describe")
        assert_bounded(rss, os.path.getsize(path))


def test_gguf_array_of_fifty_million_bytes_has_bounded_memory(weightcast_bin, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    path = tmp_path / "array.gguf"
    key = b"tokenizer.ggml.scores"
    n = 50_000_000
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key)
        f.write(struct.pack("<IIQ", 9, 0, n) + b"\x01" * n)  # ARRAY of UINT8
    proc, rss = run_measured(weightcast_bin, "inspect", path)
    assert_error(proc, str(path), "would take more memory than a file of")
    assert_bounded(rss, os.path.getsize(path))


def test_gguf_flood_of_tiny_metadata_entries_has_bounded_memory(weightcast_bin, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    path = tmp_path / "kvs.gguf"
    n = 4_000_000  # 13 bytes each: an empty key, type UINT8, one byte
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, n) + (struct.pack("<QI", 0, 0) + b"\x01") * n)
    proc, rss = run_measured(weightcast_bin, "inspect", path)
    assert_error(proc, str(path), "would take more memory than a file of")
    assert_bounded(rss, os.path.getsize(path))


# ---------------------------------------------------------------- paths and contents


@pytest.mark.parametrize("shard", ["../../../../etc/passwd", "/etc/passwd", "sub/../../outside.safetensors"])
def test_index_may_not_leave_the_checkpoint(weightcast_bin, src, tmp_path, shard):
    index = sharded(src)
    index.write_text(json.dumps({"weight_map": {"model.embed_tokens.weight": shard}}))
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), str(index), f'shard name "{shard}"',
                 "is not a file inside the checkpoint directory")


def test_errors_do_not_echo_file_contents(weightcast_bin, src, tmp_path):
    index = sharded(src)
    secret = src / "secret.safetensors"
    secret.write_bytes(struct.pack("<Q", 24) + b"SECRETvalue-hunter2-xyzw")
    index.write_text(json.dumps({"weight_map": {"model.embed_tokens.weight": "secret.safetensors"}}))
    proc = convert(weightcast_bin, src, tmp_path / "out")
    assert_error(proc, str(secret), "invalid safetensors JSON header")
    assert "SECRET" not in proc.stderr and "hunter2" not in proc.stderr
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 4)
    proc = convert(weightcast_bin, src, tmp_path / "out")
    assert_error(proc, "exceeds the 100000000-byte limit")
    assert "root:x" not in proc.stderr and str(struct.unpack("<Q", b"root:x:0")[0]) not in proc.stderr


def test_index_of_tiny_entries_has_bounded_memory(weightcast_bin, src, tmp_path):
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    index = sharded(src)
    index.write_text('{"weight_map":{' + ",".join(f'"{i:x}":"b"' for i in range(2_000_000)) + "}}")
    proc, rss = run_measured(weightcast_bin, "convert", src, "--quantization", "q0f16", "-o", tmp_path / "out")
    assert_error(proc, "names shard file", "which does not exist")
    assert_bounded(rss, os.path.getsize(index))
