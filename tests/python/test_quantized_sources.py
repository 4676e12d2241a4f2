"""GPTQ, AutoAWQ, compressed-tensors and FP8 checkpoints converted into ordinary MLC schemes.

Each checkpoint is written by quantized_fixtures from its format's documented packing, together
with the float checkpoint it stands for (the numpy-dequantized weights). weightcast's pack of the
quantized checkpoint must equal the oracle's pack of that float checkpoint: with q0f16 (q0bf16 for
bf16 scales) the weights are stored exactly, so equality means the dequantized values are equal bit
for bit; with q4f16_1 the requantization matches too.
"""
import json
import os

import numpy as np
import pytest

import mlc_oracle
import quantized_fixtures as qf
from conftest import assert_error, assert_same_files, run_cli


def convert_both(binary, src, ref, tmp_path, scheme, *extra):
    """weightcast on the quantized checkpoint, the oracle on its float reference; returns stdout."""
    out, expected = tmp_path / f"out-{scheme}", tmp_path / f"expected-{scheme}"
    mlc_oracle.convert(str(ref), scheme, str(expected))
    proc = run_cli(binary, "convert", src, "--quantization", scheme, "-o", out, *extra)
    assert_same_files(expected, out)
    assert "Unused extern parameters" not in proc.stdout
    return proc.stdout


def model(family):
    return qf.llama() if family == "llama" else qf.mixtral()


def check_requant_report(log):
    """The closing line: median and worst relative L2 error of the requantized parameters."""
    line = next(line for line in log.splitlines() if line.startswith("Requantization error"))
    median = float(line.split("median ")[1].split(",")[0])
    worst = float(line.split("worst ")[1].split(" ")[0])
    assert 0 < median <= worst < 1, line


GPTQ_CASES = {
    # id: (bits, group, sym, act_order, gptq_v2)
    "4bit-g128-sym": (4, 128, True, False, False),
    "4bit-g32-actorder-asym": (4, 32, False, True, False),
    "8bit-g-1-asym-v2": (8, -1, False, False, True),
    "3bit-g64-asym": (3, 64, False, False, False),
    "2bit-g32-actorder-v2": (2, 32, True, True, True),
}


@pytest.mark.parametrize("family", ["llama", "mixtral"])
@pytest.mark.parametrize("case", sorted(GPTQ_CASES))
def test_gptq(weightcast_bin, tmp_path, family, case):
    bits, group, sym, act_order, v2 = GPTQ_CASES[case]
    cfg, floats = model(family)
    if family == "mixtral" and group > 64:
        group = 32  # Mixtral's tiny Linear layers are 64 and 96 wide
    rng = np.random.default_rng(bits * 100 + group)
    qc = {"quant_method": "gptq", "bits": bits, "group_size": group, "sym": sym, "desc_act": act_order,
          "checkpoint_format": "gptq_v2" if v2 else "gptq"}
    src, ref = tmp_path / "src", tmp_path / "ref"
    expected = qf.write_quantized(
        src, ref, cfg, floats, qc,
        lambda w: qf.gptq_tensors(w, bits, group, sym, act_order, v2, rng),
        lambda t: qf.gptq_dequantize(t, bits, v2))
    # The fixture itself is sound: the dequantized weights follow the floats they quantize.
    name = next(iter(expected))
    assert np.corrcoef(expected[name].ravel(), floats[name].ravel())[0, 1] > 0.5
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q0f16")
    assert f"Source quantization: GPTQ {bits}-bit" in log
    assert f"{len(expected)} packed modules dequantized" in log
    assert "Requantization error" not in log  # q0f16 stores the weights as they are
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q4f16_1")
    check_requant_report(log)


def test_gptq_v1_zero_of_zero_follows_gptqmodel():
    """A zero of 0 is stored as -1 (all ones) by v1 writers: GPTQModel's word-wise +0x11111111
    carries into the next nibble, AutoGPTQ's per-nibble (z + 1) & 15 does not."""
    zeros = np.array([[0, 5, 0, 7, 1, 2, 3, 15]], np.int64)
    words = qf.pack_stream(zeros, 4, axis=1).view(np.uint32)
    v1 = (words.astype(np.uint64) - 0x11111111).astype(np.uint32)
    back = (v1.astype(np.uint64) + 0x11111111).astype(np.uint32)
    assert np.array_equal(qf.unpack_stream(back, 4, 8, axis=1), zeros)
    per_nibble = (qf.unpack_stream(v1, 4, 8, axis=1) + 1) & 15
    assert not np.array_equal(per_nibble, zeros)  # the readers really disagree here


@pytest.mark.parametrize("family", ["llama", "mixtral"])
def test_awq_into_group_schemes(weightcast_bin, tmp_path, family):
    cfg, floats = model(family)
    group = 128 if family == "llama" else 32
    qc = {"quant_method": "awq", "bits": 4, "group_size": group, "zero_point": True, "version": "gemm"}
    src, ref = tmp_path / "src", tmp_path / "ref"
    qf.write_quantized(src, ref, cfg, floats, qc, lambda w: qf.awq_tensors(w, group),
                       lambda t: qf.awq_dequantize(t, group))
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q0f16")
    assert "Source quantization: AutoAWQ GEMM 4-bit, group" in log
    convert_both(weightcast_bin, src, ref, tmp_path, "q4f16_1")
    convert_both(weightcast_bin, src, ref, tmp_path, "q4f32_1")


PACKED_CASES = {
    # id: (bits, group (-1: channel), sym, zero points as int8)
    "4bit-g32-sym": (4, 32, True, False),
    "4bit-g32-asym": (4, 32, False, False),
    "8bit-channel-asym": (8, -1, False, False),
    "4bit-g32-asym-int8-zp": (4, 32, False, True),
}


def packed_config(bits, group, sym):
    weights = {"num_bits": bits, "type": "int", "symmetric": sym,
               "strategy": "group" if group > 0 else "channel", "group_size": group if group > 0 else None}
    return {"quant_method": "compressed-tensors", "format": "pack-quantized", "version": "0.9.1",
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights}}, "ignore": ["lm_head"]}


@pytest.mark.parametrize("family", ["llama", "mixtral"])
@pytest.mark.parametrize("case", sorted(PACKED_CASES))
def test_compressed_tensors_pack_quantized(weightcast_bin, tmp_path, family, case):
    bits, group, sym, zp_int8 = PACKED_CASES[case]
    cfg, floats = model(family)
    src, ref = tmp_path / "src", tmp_path / "ref"
    expected = qf.write_quantized(
        src, ref, cfg, floats, packed_config(bits, group, sym),
        lambda w: qf.packed_tensors(w, bits, group, sym, zp_int8),
        lambda t: qf.packed_dequantize(t, bits), dtype=qf.BF16)
    # bf16 arithmetic, as compressed-tensors does it, differs from float32 arithmetic in places.
    name = next(iter(expected))
    assert expected[name].dtype == np.float32
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q0bf16")
    assert "Source quantization: compressed-tensors pack-quantized" in log
    convert_both(weightcast_bin, src, ref, tmp_path, "q4f16_1")


def test_bf16_arithmetic_matters():
    """The reason the dequantizer multiplies in bf16: float32 products differ in many values."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 128)).astype(np.float32) * 0.05
    t = qf.packed_tensors(w, 4, 32, False)
    bf16 = qf.packed_dequantize(t, 4)
    q = qf.unpack_stream(t["weight_packed"], 4, 128, axis=1) - 8
    zp = qf.unpack_stream(t["weight_zero_point"], 4, 64, axis=0) - 8
    f32 = (q - np.repeat(zp, 32, axis=1)) * np.repeat(t["weight_scale"].astype(np.float32), 32, axis=1)
    assert np.mean(bf16 != f32) > 0.1


@pytest.mark.parametrize("family", ["llama", "mixtral"])
def test_fp8_block_scales(weightcast_bin, tmp_path, family):
    cfg, floats = model(family)
    block = [32, 32]
    rng = np.random.default_rng(7)
    qc = {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3", "weight_block_size": block}
    src, ref = tmp_path / "src", tmp_path / "ref"
    # Power-of-two scales: the float32 products are exact in bfloat16, so q0bf16 stores them exactly.
    qf.write_quantized(src, ref, cfg, floats, qc, lambda w: qf.fp8_tensors(w, block, rng, power_of_two=True),
                       lambda t: qf.fp8_dequantize(t, block), dtype=qf.BF16)
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q0bf16", "--dequantize-fp8")
    assert "Source quantization: FP8 e4m3 with 32 x 32 block scales" in log
    src2, ref2 = tmp_path / "src2", tmp_path / "ref2"
    qf.write_quantized(src2, ref2, cfg, floats, qc, lambda w: qf.fp8_tensors(w, block, rng),
                       lambda t: qf.fp8_dequantize(t, block), dtype=qf.BF16)
    convert_both(weightcast_bin, src2, ref2, tmp_path / "random", "q4f16_1", "--dequantize-fp8")


def test_fp8_per_channel_compressed_tensors(weightcast_bin, tmp_path):
    """compressed-tensors float-quantized: FP8 weights, one bf16 scale per output row."""
    cfg, floats = qf.llama()
    weights = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True}
    qc = {"quant_method": "compressed-tensors", "format": "float-quantized",
          "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights}}}

    def quantize(w):
        scale = (np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-3) / 448).astype(qf.BF16)
        return {"weight": (w / scale.astype(np.float32)).astype(qf.FP8), "weight_scale": scale}

    def dequantize(t):
        return (t["weight"].astype(qf.BF16) * t["weight_scale"]).astype(np.float32)

    src, ref = tmp_path / "src", tmp_path / "ref"
    qf.write_quantized(src, ref, cfg, floats, qc, quantize, dequantize, dtype=qf.BF16)
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q0bf16")
    assert "compressed-tensors float-quantized FP8" in log
    convert_both(weightcast_bin, src, ref, tmp_path, "q4f16_1")


# ---------------------------------------------------------------- bad input


def gptq_checkpoint(tmp_path, group=32, **changes):
    cfg, floats = qf.llama()
    rng = np.random.default_rng(1)
    qc = {"quant_method": "gptq", "bits": 4, "group_size": group, "desc_act": True, "sym": False}
    src = tmp_path / "src"
    qf.write_quantized(src, tmp_path / "ref", cfg, floats, qc,
                       lambda w: qf.gptq_tensors(w, 4, group, False, True, False, rng),
                       lambda t: qf.gptq_dequantize(t, 4))
    if changes:
        with open(src / "config.json") as f:
            c = json.load(f)
        c["quantization_config"].update(changes)
        with open(src / "config.json", "w") as f:
            json.dump(c, f)
    return src


def drop_tensor(src, suffix):
    from safetensors.numpy import load_file
    path = os.path.join(src, "model.safetensors")
    tensors = load_file(path)
    name = next(n for n in tensors if n.endswith(suffix))
    qf.save_ordered({k: v for k, v in tensors.items() if k != name}, path)
    return name[: -len(suffix)]


@pytest.mark.parametrize("changes,fragments", [
    ({"bits": 8}, [".scales: has shape (", "input columns in groups of 32 means ("]),
    ({"group_size": 64}, [".scales: has shape (", "input columns in groups of 64 means ("]),
    ({"bits": 5}, ["GPTQ with 5 bits is not supported (2, 3, 4, 8)"]),
    ({"checkpoint_format": "marlin"}, ['GPTQ checkpoint_format "marlin" is not supported']),
])
def test_gptq_config_disagreeing_with_tensors(weightcast_bin, tmp_path, changes, fragments):
    src = gptq_checkpoint(tmp_path, **changes)
    assert_error(run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "o",
                         check=False), *fragments)


@pytest.mark.parametrize("suffix,fragment", [
    (".g_idx", "the g_idx (desc_act is set) tensor is missing"),
    (".scales", "the scales tensor is missing"),
    (".qzeros", "the qzeros tensor is missing"),
])
def test_gptq_missing_tensor(weightcast_bin, tmp_path, suffix, fragment):
    src = gptq_checkpoint(tmp_path)
    module = drop_tensor(src, suffix)
    assert_error(run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "o",
                         check=False), f"{module}.qweight: {fragment}")


def test_unsupported_awq_layout(weightcast_bin, tmp_path):
    cfg, floats = qf.llama()
    qc = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemv"}
    qf.write_quantized(tmp_path / "src", tmp_path / "ref", cfg, floats, qc, lambda w: qf.awq_tensors(w),
                       lambda t: qf.awq_dequantize(t))
    assert_error(run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_1",
                         "-o", tmp_path / "o", check=False),
                 'AWQ version "gemv" is not supported (the GEMM layout only)')


def test_act_order_gptq_into_autoawq_is_refused(weightcast_bin, tmp_path):
    src = gptq_checkpoint(tmp_path, group=128)  # act-order over 256 inputs: two shuffled groups
    assert_error(run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_autoawq", "-o",
                         tmp_path / "o", check=False),
                 "act-order (g_idx is not column / group_size) has no q4f16_autoawq equivalent")


@pytest.mark.parametrize("v2", [False, True])
def test_gptq_into_autoawq_is_lossless(weightcast_bin, tmp_path, v2):
    """4-bit GPTQ, group 128, no act-order: the codes, zeros and scales move into AutoAWQ's layout
    unchanged. The pack equals the oracle's q4f16_autoawq of the AutoAWQ export holding the same
    codes, whose dequantized values are exactly GPTQ's."""
    cfg, floats = qf.llama()
    rng = np.random.default_rng(11)
    qc = {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": False, "desc_act": False,
          "checkpoint_format": "gptq_v2" if v2 else "gptq"}
    parts = {}

    def quantize(w):
        t = qf.gptq_tensors(w, 4, 128, False, False, v2, rng)
        parts[id(w)] = t
        return t

    src = tmp_path / "src"
    expected = qf.write_quantized(src, tmp_path / "ref", cfg, floats, qc, quantize,
                                  lambda t: qf.gptq_dequantize(t, 4, v2))
    awq = {}
    for name, w in floats.items():
        if name not in expected:
            with np.errstate(over="ignore"):
                awq[name] = w.astype(np.float16)
            continue
        t, base = parts[id(w)], name[: -len(".weight")]
        awq_t = qf.gptq_as_awq(t, v2)
        assert np.array_equal(qf.awq_dequantize(awq_t), expected[name])  # the same values
        for suffix, arr in awq_t.items():
            awq[f"{base}.{suffix}"] = arr
    qf.write_dir(tmp_path / "awq", {**cfg, "quantization_config": {"quant_method": "awq", "bits": 4,
                                                                      "group_size": 128}}, awq)
    mlc_oracle.convert(str(tmp_path / "awq"), "q4f16_autoawq", str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_autoawq", "-o", tmp_path / "out")
    assert "repacked into AutoAWQ's layout for q4f16_autoawq: lossless" in proc.stdout
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("family", ["llama", "mixtral"])
def test_requantization_error_is_measured_against_the_dequantized_weights(weightcast_bin, tmp_path, family):
    """The closing line's median and worst, recomputed in numpy: the oracle's q4f16_1 pack of the
    float reference decoded ((code - 7) * scale) against its q0f16 pack (the same parameters, fused
    as MLC fuses them, in float16)."""
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    cfg, floats = model(family)
    rng = np.random.default_rng(5)
    qc = {"quant_method": "gptq", "bits": 4, "group_size": 32, "sym": True, "desc_act": False}
    src, ref = tmp_path / "src", tmp_path / "ref"
    qf.write_quantized(src, ref, cfg, floats, qc, lambda w: qf.gptq_tensors(w, 4, 32, True, False, False, rng),
                       lambda t: qf.gptq_dequantize(t, 4))
    log = convert_both(weightcast_bin, src, ref, tmp_path, "q4f16_1")
    convert_both(weightcast_bin, src, ref, tmp_path, "q0f16")
    load = lambda d: {k: v.numpy() for k, v in tvmjs.load_tensor_cache(str(d), tvm.cpu())[0].items()}
    q4, q0 = load(tmp_path / "expected-q4f16_1"), load(tmp_path / "expected-q0f16")
    errors = {}
    for name, w in q0.items():
        base = name[: -len(".weight")]
        if base + ".q_weight" not in q4 or "embed_tokens" in name or name.startswith("lm_head"):
            continue  # not quantized, or not from dequantized weights
        w = w.reshape(-1, w.shape[-1])  # stacked experts: one row per expert row
        words = q4[base + ".q_weight"].reshape(w.shape[0], -1)
        scale = q4[base + ".q_scale"].astype(np.float32).reshape(w.shape[0], -1)
        codes = (words[..., None] >> (4 * np.arange(8, dtype=np.uint32))) & 15
        codes = codes.reshape(words.shape[0], -1)[:, : w.shape[1]].astype(np.float32)
        deq = (codes - 7) * np.repeat(scale, 32, axis=1)[:, : w.shape[1]]
        x = w.astype(np.float64)
        errors[name] = np.sqrt(((x - deq) ** 2).sum() / (x ** 2).sum())
    line = next(line for line in log.splitlines() if line.startswith("Requantization error"))
    assert f"over {len(errors)} parameters" in line
    worst = max(errors, key=errors.get)
    median = np.median(list(errors.values()))
    assert f"median {median:.4f}, worst {errors[worst]:.4f} ({worst})" in line
    # --json carries the same numbers (the log goes to stderr).
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "json", "--json")
    summary = json.loads(proc.stdout)["requantization_error"]
    assert summary["parameters"] == len(errors) and summary["worst_parameter"] == worst
    assert summary["median"] == pytest.approx(median, rel=1e-9)
    assert summary["worst"] == pytest.approx(errors[worst], rel=1e-9)


@pytest.mark.parametrize("qc", [
    {"quant_method": "gptq", "bits": 5},  # unsupported, but nothing is packed
    {"quant_method": "compressed-tensors", "format": "dense"},  # sparsity only
])
def test_float_weights_under_a_quantization_config_convert_as_floats(weightcast_bin, tmp_path, qc):
    cfg, floats = qf.llama()
    qf.write_dir(tmp_path / "ref", cfg, {k: v.astype(qf.BF16) for k, v in floats.items()})
    qf.write_dir(tmp_path / "src", {**cfg, "quantization_config": qc},
                 {k: v.astype(qf.BF16) for k, v in floats.items()})
    log = convert_both(weightcast_bin, tmp_path / "src", tmp_path / "ref", tmp_path, "q4f16_1")
    assert "Source quantization" not in log


def test_compressed_tensors_bits_disagreeing_with_the_packing(weightcast_bin, tmp_path):
    cfg, floats = qf.llama()
    src = tmp_path / "src"
    qf.write_quantized(src, tmp_path / "ref", cfg, floats, packed_config(8, 32, True),  # packed at 4 bits
                       lambda w: qf.packed_tensors(w, 4, 32, True), lambda t: qf.packed_dequantize(t, 4),
                       dtype=qf.BF16)
    assert_error(run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "o",
                         check=False),
                 ".weight_packed: has 16 words per row, but 128 8-bit codes pack into 32")
