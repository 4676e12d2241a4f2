"""Every bad input ends in a one-line error naming what is wrong, a non-zero exit, no crash and
no manifest."""
import json
import os
import shutil
import struct
import subprocess
import tempfile

import pytest

from conftest import assert_error, assert_same_files, convert, edit_config, run_cli
from hf_checkpoint import rewrite_header


@pytest.fixture
def src(checkpoints, tmp_path):
    """A private copy of the single-file bf16 checkpoint, free to damage."""
    dst = tmp_path / "src"
    shutil.copytree(checkpoints["bf16-untied"], dst)
    return dst


@pytest.fixture
def sharded(checkpoints, tmp_path):
    dst = tmp_path / "sharded"
    shutil.copytree(checkpoints["f32-tied-sharded"], dst)
    return dst


def test_missing_config(weightcast_bin, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = convert(weightcast_bin, tmp_path / "empty", tmp_path / "out")
    assert_error(proc, f"ValueError: Fail to find config.json under {tmp_path / 'empty'}.")


def test_config_path_does_not_exist(weightcast_bin, tmp_path):
    assert_error(convert(weightcast_bin, tmp_path / "nope", tmp_path / "out"), f"{tmp_path / 'nope'} does not exist.")


def test_unknown_model_type(weightcast_bin, src, tmp_path):
    edit_config(src, model_type="t5")
    assert_error(convert(weightcast_bin, src, tmp_path / "out"),
                 "Unknown model type: t5. Available ones: ['llama'")


def test_missing_model_type(weightcast_bin, src, tmp_path):
    edit_config(src, model_type=None)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"),
                 "'model_type' not found in:", "Please explicitly specify `--model-type` instead.")


def test_missing_required_config_field(weightcast_bin, src, tmp_path):
    edit_config(src, intermediate_size=None)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), 'missing required field "intermediate_size"')


def test_unknown_quantization(weightcast_bin, src, tmp_path):
    proc = convert(weightcast_bin, src, tmp_path / "out", scheme="q9f16")
    assert proc.returncode == 2
    assert "--quantization: q9f16 not in" in proc.stderr and "q4f16_1" in proc.stderr


def test_source_not_found(weightcast_bin, src, tmp_path):
    assert_error(convert(weightcast_bin, src, tmp_path / "out", "--source", tmp_path / "missing"),
                 f"Model source does not exist: {tmp_path / 'missing'}")


def test_no_weights_found(weightcast_bin, src, tmp_path):
    os.remove(src / "model.safetensors")
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), "Fail to detect source weight format.")


def test_explicit_format_without_its_files(weightcast_bin, src, tmp_path):
    os.remove(src / "model.safetensors")
    assert_error(convert(weightcast_bin, src, tmp_path / "out", "--source-format", "huggingface-safetensor"),
                 "The weight is not in huggingface-safetensor format.")


def test_unknown_source_format(weightcast_bin, src, tmp_path):
    assert_error(convert(weightcast_bin, src, tmp_path / "out", "--source-format", "ggml"),
                 "Available weight format list: ['huggingface-torch', 'huggingface-safetensor', 'awq', 'gguf'], but got ggml")


def test_truncated_safetensors(weightcast_bin, src, tmp_path):
    path = src / "model.safetensors"
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[: len(raw) // 2])
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), str(path), "run past the end of the file")


def test_file_shorter_than_header_length_field(weightcast_bin, src, tmp_path):
    path = src / "model.safetensors"
    open(path, "wb").write(b"\x10\x00\x00")
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), str(path), "truncated safetensors file (3 bytes")


def test_header_length_past_end(weightcast_bin, src, tmp_path):
    path = src / "model.safetensors"
    raw = bytearray(open(path, "rb").read())
    raw[0:8] = struct.pack("<Q", len(raw) + 5)
    open(path, "wb").write(raw)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), str(path), "header length", "runs past the end")


def test_invalid_json_header(weightcast_bin, src, tmp_path):
    path = src / "model.safetensors"
    raw = bytearray(open(path, "rb").read())
    raw[8] = ord("[")
    open(path, "wb").write(raw)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), str(path), "invalid safetensors JSON header")


def test_unknown_dtype(weightcast_bin, src, tmp_path):
    rewrite_header(src / "model.safetensors", lambda h: h["model.norm.weight"].update(dtype="Q4_K"))
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), 'tensor "model.norm.weight": unknown dtype "Q4_K"')


def test_data_span_past_end(weightcast_bin, src, tmp_path):
    def edit(h):
        b, e = h["model.norm.weight"]["data_offsets"]
        h["model.norm.weight"]["data_offsets"] = [b + 10**9, e + 10**9]
    rewrite_header(src / "model.safetensors", edit)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), 'tensor "model.norm.weight"', "run past the end of the file")


def test_overlapping_spans(weightcast_bin, src, tmp_path):
    def edit(h):
        h["model.norm.weight"]["data_offsets"] = list(h["lm_head.weight"]["data_offsets"])
        h["model.norm.weight"]["data_offsets"][1] = h["model.norm.weight"]["data_offsets"][0] + 144
    rewrite_header(src / "model.safetensors", edit)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), "overlap")


def test_shape_mismatch_against_architecture(weightcast_bin, src, tmp_path):
    edit_config(src, intermediate_size=128)  # the checkpoint has 100
    assert_error(convert(weightcast_bin, src, tmp_path / "out"),
                 "ValueError: Parameter model.layers.0.mlp.gate_up_proj.q_weight has shape (200, 12), "
                 "but expected (256, 12)")


def test_tensor_missing_from_source(weightcast_bin, src, tmp_path):
    edit_config(src, num_hidden_layers=3)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"),
                 "The following extern parameters do not exist in the weight files: "
                 "model.layers.2.input_layernorm.weight, ")


def test_untied_config_without_lm_head(weightcast_bin, sharded, tmp_path):
    edit_config(sharded, tie_word_embeddings=False)
    index = json.load(open(sharded / "model.safetensors.index.json"))
    del index["weight_map"]["lm_head.weight"]
    json.dump(index, open(sharded / "model.safetensors.index.json", "w"))
    assert_error(convert(weightcast_bin, sharded, tmp_path / "out"),
                 "do not exist in the weight files: lm_head.weight")


def test_index_naming_missing_shard(weightcast_bin, sharded, tmp_path):
    os.remove(sharded / "model-00002-of-00002.safetensors")
    assert_error(convert(weightcast_bin, sharded, tmp_path / "out"),
                 "model.safetensors.index.json: names shard file", "model-00002-of-00002.safetensors, which does not exist")


def test_output_path_is_a_file(weightcast_bin, src, tmp_path):
    (tmp_path / "file").write_text("x")
    assert_error(convert(weightcast_bin, src, tmp_path / "file"), "output path exists and is not a directory")


def test_read_only_output_directory(weightcast_bin, checkpoints):
    base = tempfile.mkdtemp()
    try:
        os.chmod(base, 0o755)
        shutil.copytree(checkpoints["bf16-untied"], os.path.join(base, "src"))
        out = os.path.join(base, "out")
        os.mkdir(out, 0o555)
        os.chmod(out, 0o555)
        cmd = [weightcast_bin, "convert", os.path.join(base, "src"), "--quantization", "q0f16", "-o", out]
        if os.geteuid() == 0:  # root ignores permissions: run as nobody
            os.chmod(os.path.join(base, "src"), 0o755)
            for f in os.listdir(os.path.join(base, "src")):
                os.chmod(os.path.join(base, "src", f), 0o644)
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert_error(proc, f"{out}: cannot write to output directory: Permission denied")
        assert os.listdir(out) == []
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "gpu", "rocm:1", "metal", "vulkan", "opencl"])
def test_gpu_devices_run_on_the_cpu_with_a_notice_and_the_same_bytes(weightcast_bin, src, tmp_path, device):
    """MLC's device names are accepted; the work runs on the CPU and, outside per-tensor FP8, writes
    the bytes every device writes."""
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "cpu", "--device", "cpu")
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "gpu",
                   "--device", device)
    assert f"Device {device}: weightcast computes on the CPU" in proc.stdout
    assert_same_files(tmp_path / "cpu", tmp_path / "gpu")


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cuda:", "cpu:-1"])
def test_unknown_devices_are_refused_as_mlc_refuses_them(weightcast_bin, src, tmp_path, device):
    assert_error(convert(weightcast_bin, src, tmp_path / "out", "--device", device),
                 f"ValueError: Invalid device name: {device}")


def test_no_manifest_after_any_error(weightcast_bin, src, tmp_path):
    edit_config(src, intermediate_size=128)
    out = tmp_path / "out"
    convert(weightcast_bin, src, out)
    assert not (out / "tensor-cache.json").exists()


def test_q4f16_ft_is_refused_with_the_reason(weightcast_bin, src, tmp_path):
    assert_error(convert(weightcast_bin, src, tmp_path / "out", scheme="q4f16_ft"),
                 "NotImplementedError: q4f16_ft is not supported", "ft_preprocess_weight")
    edit_config(src, tensor_parallel_shards=2)
    assert_error(convert(weightcast_bin, src, tmp_path / "out", scheme="q4f16_ft"),
                 "q4f16_ft does not support tensor_parallel_shards > 1 in config.json")
