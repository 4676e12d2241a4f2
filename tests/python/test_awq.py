"""q4f16_autoawq from AutoAWQ exports (packing order written from AutoAWQ's description)."""
import json
import os
import shutil

import numpy as np
import pytest

import make_fixtures
import mlc_oracle
from conftest import assert_error, assert_same_files, edit_config, edit_tensors, run_cli

MLC_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]  # element j of a word sits at nibble [j]


@pytest.fixture(scope="module")
def awq(tmp_path_factory):
    path = tmp_path_factory.mktemp("awq") / "ckpt"
    floats = make_fixtures.make_awq(str(path))
    return str(path), floats


def convert_awq(binary, src, out, *extra):
    return run_cli(binary, "convert", src, "--quantization", "q4f16_autoawq", "--source-format", "awq",
                   "-o", out, *extra)


def test_matches_the_oracle(weightcast_bin, awq, tmp_path):
    src, _ = awq
    mlc_oracle.convert(src, "q4f16_autoawq", str(tmp_path / "expected"))
    convert_awq(weightcast_bin, src, tmp_path / "dir")
    convert_awq(weightcast_bin, src, tmp_path / "file", "--source", os.path.join(src, "model.safetensors"))
    assert_same_files(tmp_path / "expected", tmp_path / "dir")
    assert_same_files(tmp_path / "expected", tmp_path / "file")


def unpack_mlc(words):
    """MLC's dequantize-side unpacking (ft_reorder): [rows, cols/8] uint32 -> [rows, cols]."""
    shifts = np.array([4 * n for n in MLC_REVERSE_ORDER], np.uint32)
    return ((words[..., None] >> shifts) & 0xF).reshape(words.shape[0], -1)


def test_dequantized_output_gives_back_the_weights(weightcast_bin, awq, tmp_path):
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    src, floats = awq
    convert_awq(weightcast_bin, src, tmp_path / "out")
    params = {k: v.numpy() for k, v in tvmjs.load_tensor_cache(str(tmp_path / "out"), tvm.cpu())[0].items()}
    qkv = params["model.layers.0.self_attn.qkv_proj.qweight"]
    assert qkv.dtype == np.uint32 and qkv.shape == (128, (128 + 64 + 64) // 8)  # in x (q+k+v)/8
    checked = 0
    for name, w in floats.items():
        if not name.endswith("_proj.weight"):
            continue
        layer, module = name.split(".")[2], name.split(".")[-2]
        fused = {"q_proj": ("self_attn.qkv_proj", 0), "k_proj": ("self_attn.qkv_proj", 128),
                 "v_proj": ("self_attn.qkv_proj", 192), "gate_proj": ("mlp.gate_up_proj", 0),
                 "up_proj": ("mlp.gate_up_proj", 256)}
        prefix = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        target, col = fused.get(module, (f"{prefix}.{module}", 0))
        base = f"model.layers.{layer}.{target}"
        out_f = w.shape[0]
        q = unpack_mlc(params[base + ".qweight"])[:, col:col + out_f].astype(np.float32)
        z = unpack_mlc(params[base + ".qzeros"])[:, col:col + out_f].astype(np.float32)
        s = params[base + ".scales"][:, col:col + out_f].astype(np.float32)
        deq = ((q - np.repeat(z, 128, axis=0)) * np.repeat(s, 128, axis=0)).T  # [out, in]
        codes, zeros, scales = make_fixtures.awq_quantize(w)
        step = np.repeat(scales.astype(np.float32), 128, axis=1)
        expected = (codes.astype(np.float32) - np.repeat(zeros, 128, axis=1)) * step
        assert np.array_equal(deq, expected), name  # the fixture's own codes, unpacked exactly
        assert np.all(np.abs(deq - w) <= step + 1e-6), name  # within a quantization step of w
        checked += 1
    assert checked == 2 * 7


def test_group_size_other_than_128_is_refused(weightcast_bin, tmp_path):
    make_fixtures.make_awq(str(tmp_path / "g64"), group=64)
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "g64", "--quantization", "q4f16_autoawq",
                         "-o", tmp_path / "o", check=False),
                 "4 rows mean an AWQ group size of 64; q4f16_autoawq supports group size 128 only")


def test_scales_that_do_not_match_qweight(weightcast_bin, awq, tmp_path):
    src = tmp_path / "bad"
    shutil.copytree(awq[0], src)
    name = "model.layers.0.mlp.down_proj.scales"
    edit_tensors(src / "model.safetensors", lambda t: t.update({name: np.ascontiguousarray(t[name][:, :64])}))
    assert_error(run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_autoawq", "-o", tmp_path / "o",
                         check=False),
                 "Parameter model.layers.0.mlp.down_proj.scales has shape (2, 64), but expected (2, 128)")


def test_awq_format_needs_the_awq_scheme(weightcast_bin, awq, tmp_path):
    assert_error(run_cli(weightcast_bin, "convert", awq[0], "--quantization", "q4f16_1", "--source-format", "awq",
                         "-o", tmp_path / "o", check=False), "use --quantization q4f16_autoawq")
    cfg = json.load(open(os.path.join(awq[0], "config.json")))
    assert cfg["quantization_config"]["quant_method"] == "awq"


def test_olmo_awq_maps_like_llama(weightcast_bin, awq, tmp_path):
    """OLMo's AWQ mapping is Llama's (q|k|v and gate|up along axis 1) without the norms, which
    OLMo does not have: the same records, byte for byte, less the norms."""
    src = tmp_path / "olmo"
    shutil.copytree(awq[0], src)
    edit_config(src, model_type="olmo", hidden_act="silu")
    convert_awq(weightcast_bin, awq[0], tmp_path / "llama")
    proc = convert_awq(weightcast_bin, src, tmp_path / "out")
    assert "Unused extern parameters: " in proc.stdout and "input_layernorm" in proc.stdout

    def records(out):
        manifest = json.load(open(out / "tensor-cache.json"))
        found = {}
        for shard in manifest["records"]:
            data = (out / shard["dataPath"]).read_bytes()
            for r in shard["records"]:
                found[r["name"]] = data[r["byteOffset"]: r["byteOffset"] + r["nbytes"]]
        return found

    llama, olmo = records(tmp_path / "llama"), records(tmp_path / "out")
    assert olmo == {k: v for k, v in llama.items() if "norm" not in k}
    assert "model.layers.0.self_attn.qkv_proj.qweight" in olmo
