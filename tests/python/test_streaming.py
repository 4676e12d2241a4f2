"""Records stored unquantized that are large (giant embeddings, stacked experts, FP8 blocks) are
cast and written block by block: the same bytes as the oracle, without holding them whole."""
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import assert_same_files, edit_config, edit_tensors, run_cli

VOCAB = 1 << 20  # a tied embedding of 128 MiB in float16, whose q4 q_weight is 32 MiB


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    src = tmp_path_factory.mktemp("big") / "src"
    make_arch_fixtures.make("llama-tied", str(src))
    rng = np.random.default_rng(7)
    embedding = (rng.standard_normal((VOCAB, 64), dtype=np.float32) * 0.05).astype(ml_dtypes.bfloat16)
    edit_tensors(src / "model.safetensors", lambda t: t.update({"model.embed_tokens.weight": embedding}))
    edit_config(src, vocab_size=VOCAB)
    return src


@pytest.mark.parametrize("scheme", ["q0f16", "q0f32", "q4f16_1", "q4f16_2"])
def test_streamed_records_match_the_oracle(weightcast_bin, big, tmp_path, scheme):
    """q0f16 streams through the bf16 -> f16 cast (q0f32 passes the bf16 bytes through, see below);
    q4f16_1 quantizes the embedding's
    q_weight block by block (its q_scale follows whole); q4f16_2 leaves the embedding
    unquantized, so it streams while the rest is quantized."""
    mlc_oracle.convert(str(big), scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", big, "--quantization", scheme, "--stream-mib", "32", "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def peak_rss_kib(*args):
    """The peak resident set of one run of the CLI, measured from a fresh Python parent."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True,
                              capture_output=True, text=True).stdout)


def test_records_stored_as_mapped_are_never_held(weightcast_bin, big, tmp_path):
    """q0f16 casts the 128 MiB embedding in the writer, a block at a time just before each block's
    write() (whatever --stream-mib says: it governs the quantized records), and drops the source
    pages behind it: neither the record nor the mapped source is ever resident at once."""
    with open(weightcast_bin, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("AddressSanitizer's quarantine keeps freed blocks resident; the release run measures")
    args = ("convert", big, "--quantization", "q0f16", "-q")
    for setting in (str(1 << 20), "32"):
        peak = peak_rss_kib(weightcast_bin, *args, "--stream-mib", setting, "-o", tmp_path / setting)
        assert peak < 64 * 1024, (setting, peak)


def test_streamed_sources_are_released_as_they_are_read(weightcast_bin, big, tmp_path):
    """q4f16_1 quantizes the 128 MiB bf16 embedding block by block (the default --stream-mib):
    the source pages each block read are dropped, so the peak stays well below the source tensor,
    which a run holding records whole maps entirely."""
    with open(weightcast_bin, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("AddressSanitizer's quarantine keeps freed blocks resident; the release run measures")
    args = ("convert", big, "--quantization", "q4f16_1", "-q")
    held = peak_rss_kib(weightcast_bin, *args, "--stream-mib", str(1 << 20), "-o", tmp_path / "held")
    streamed = peak_rss_kib(weightcast_bin, *args, "-o", tmp_path / "streamed")
    assert held > 128 * 1024, held  # the whole mapped embedding, at least
    assert streamed + 64 * 1024 < held, (streamed, held)


@pytest.mark.parametrize("scheme", ["q0bf16", "q0f32"])
def test_records_pass_through_from_the_mapped_source(weightcast_bin, big, tmp_path, scheme):
    """bf16 sources into q0bf16 and q0f32 (stored as bf16) are their own cache bytes: the plan
    says so, the writer writes them from the mapped source, and its pages are dropped behind it,
    so the 128 MiB embedding is never resident at once; the bytes are the oracle's."""
    plan = run_cli(weightcast_bin, "convert", big, "--quantization", scheme, "--dry-run").stdout
    params = int(plan.split("Plan: ")[1].split(" parameters")[0])
    assert f"({params} of them written straight from the source bytes)" in plan, plan.splitlines()[0]
    cast = run_cli(weightcast_bin, "convert", big, "--quantization", "q0f16", "--dry-run").stdout
    assert "(0 of them written straight from the source bytes)" in cast
    mlc_oracle.convert(str(big), scheme, str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", big, "--quantization", scheme, "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")
    with open(weightcast_bin, "rb") as f:
        if b"__asan_init" in f.read():
            return  # AddressSanitizer's shadow memory makes the peak meaningless
    peak = peak_rss_kib(weightcast_bin, "convert", big, "--quantization", scheme, "-q", "-o", tmp_path / "again")
    assert peak < 64 * 1024, peak


def test_stream_mib_below_the_out_of_band_size_is_refused(weightcast_bin, tmp_path):
    src = tmp_path / "src"
    make_arch_fixtures.make("llama", str(src))
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "--stream-mib", "8", "-o",
                   tmp_path / "o", check=False)
    assert proc.returncode == 2 and "--stream-mib" in proc.stderr, (proc.returncode, proc.stderr)
    assert not (tmp_path / "o").exists()
