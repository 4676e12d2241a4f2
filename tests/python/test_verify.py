"""`weightcast verify` and convert's NaN/Inf input check (docs/verify.md). The pack's records are
decoded here independently in numpy, the reference rebuilt with the oracle's own mapping."""
import json
import os
import shutil
import subprocess

import ml_dtypes
import numpy as np
import pytest

import make_arch_fixtures
import make_fixtures
import mlc_oracle
from conftest import assert_error, convert, edit_tensors, run_cli

SCHEMES = ["q0f16", "q0f32", "q4f16_1", "q4f16_0", "q3f16_1", "e4m3_e4m3_f16", "e5m2_e5m2_f16"]


def verify(binary, pack, *extra):
    """The JSON report and the exit status."""
    proc = run_cli(binary, "verify", pack, "--json", *extra, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] == (proc.returncode == 0)
    return report, proc.returncode


def problems(report):
    return sorted((p["check"], p["shard"], p["record"]) for p in report["problems"])


def manifest(pack):
    with open(os.path.join(pack, "tensor-cache.json")) as f:
        return json.load(f)


def finite_copy(src, dst):
    """The fixture without its planted model.norm.weight[0] = 70000, which float16 cannot hold
    (a pack of it holds an infinity: test_float16_overflow_is_reported)."""
    shutil.copytree(src, dst)

    def edit(t):
        if "model.norm.weight" in t:
            n = t["model.norm.weight"].astype(np.float32)
            n[0] = 1.0
            t["model.norm.weight"] = n.astype(t["model.norm.weight"].dtype)
    for name in os.listdir(dst):
        if name.endswith(".safetensors"):
            edit_tensors(os.path.join(dst, name), edit)
    return str(dst)


@pytest.fixture(scope="module")
def packs(weightcast_bin, checkpoints, tmp_path_factory):
    """One pack per scheme from the bf16 fixture (hidden 72: padded quantization groups)."""
    base = tmp_path_factory.mktemp("packs")
    src = finite_copy(checkpoints["bf16-untied"], base / "src")
    for scheme in SCHEMES:
        proc = convert(weightcast_bin, src, base / scheme, scheme=scheme)
        assert proc.returncode == 0, proc.stderr
    return src, base


def copy_pack(packs, scheme, tmp_path):
    dst = tmp_path / scheme
    shutil.copytree(packs[1] / scheme, dst)
    return dst


# ---------------------------------------------------------------- numpy's decoding


def record_array(pack, rec, shard):
    with open(os.path.join(pack, shard), "rb") as f:
        f.seek(rec["byteOffset"])
        raw = f.read(rec["nbytes"])
    dtype = rec["dtype"]
    if dtype == "float32":  # stored as bfloat16 words (f32-to-bf16)
        return (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(rec["shape"])
    np_dtype = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "uint32": np.uint32,
                "float8_e4m3fn": ml_dtypes.float8_e4m3fn, "float8_e5m2": ml_dtypes.float8_e5m2}[dtype]
    return np.frombuffer(raw, np_dtype).reshape(rec["shape"])


def pack_arrays(pack):
    out = {}
    for shard in manifest(pack)["records"]:
        for rec in shard["records"]:
            out[rec["name"]] = record_array(pack, rec, shard["dataPath"])
    return out


def dequantize(q, s, k, scheme, role):
    _, bits, gs, _, layout, _, _ = mlc_oracle.SCHEMES[scheme]
    if layout == "KN" and role == "linear":  # only linear weights are stored transposed
        q, s = q.T, s.T
    per_word = 32 // bits
    shifts = np.arange(per_word, dtype=np.uint32) * bits
    codes = ((q[..., None] >> shifts) & ((1 << bits) - 1)).reshape(*q.shape[:-1], -1)
    codes = codes[..., : s.shape[-1] * gs].astype(np.float64)
    scale = np.repeat(s.astype(np.float64), gs, axis=-1)
    return ((codes - (2 ** (bits - 1) - 1)) * scale)[..., :k]


def decoded_param(arrays, name, ref, scheme, role):
    if name in arrays:
        return arrays[name].astype(np.float64)
    base = name[: -len(".weight")]
    q = arrays[base + ".q_weight"]
    if q.dtype == np.uint32:
        return dequantize(q, arrays[base + ".q_scale"], ref.shape[-1], scheme, role)
    scale = arrays[base + ".q_scale"].astype(np.float64)[0] if base + ".q_scale" in arrays else 1.0
    return q.astype(np.float64) * scale


def references(src, scheme):
    """{parameter: (its sources mapped, in float64; its role)}, by the oracle's own mapping."""
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    wmap, files = mlc_oracle.read_sources(src)
    params, _, _ = mlc_oracle.model_params(cfg, scheme)
    out = {}
    for name, srcs, role, _, fn in params:
        arrays = [files[wmap[s]][s].astype(np.float32) for s in srcs]
        arr = fn(*arrays) if fn else (np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0])
        out[name] = np.asarray(arr, np.float64), role
    return out


def numpy_figures(ref, dec):
    ok = np.isfinite(ref) & np.isfinite(dec)
    d = (dec - ref)[ok]
    norm = np.sqrt(np.sum(ref[ok] ** 2))
    return np.sqrt(np.sum(d ** 2)) / norm, (np.max(np.abs(d)) if d.size else 0.0)


# ---------------------------------------------------------------- clean packs


@pytest.mark.parametrize("scheme", SCHEMES)
def test_converted_pack_verifies_clean(weightcast_bin, packs, scheme):
    pack = packs[1] / scheme
    report, rc = verify(weightcast_bin, pack)
    assert rc == 0 and report["problems"] == [] and report["parameters"] == []
    m = manifest(pack)
    assert [s["file"] for s in report["shards"]] == [s["dataPath"] for s in m["records"]]
    assert [s["md5"] for s in report["shards"]] == [s["md5sum"] for s in m["records"]]
    assert len(report["records"]) == sum(len(s["records"]) for s in m["records"])
    assert all(r["readable"] and r["nan"] == 0 and r["bad_codes"] == 0 for r in report["records"])
    text = run_cli(weightcast_bin, "verify", pack).stdout
    assert "OK" in text and "PROBLEMS" not in text


@pytest.mark.parametrize("scheme", SCHEMES)
def test_against_source_matches_numpy(weightcast_bin, packs, scheme):
    src, base = packs
    report, rc = verify(weightcast_bin, base / scheme, "--against", src)
    assert rc == 0, report["problems"]
    assert report["quantization"] == scheme  # inferred: the first scheme whose plan is the pack
    arrays, refs = pack_arrays(base / scheme), references(src, scheme)
    assert sorted(p["name"] for p in report["parameters"]) == sorted(refs)
    for p in report["parameters"]:
        ref, role = refs[p["name"]]
        rel, max_abs = numpy_figures(ref, decoded_param(arrays, p["name"], ref, scheme, role))
        assert p["numel"] == ref.size and p["source_nan"] == p["source_inf"] == 0
        assert p["rel_l2"] == pytest.approx(rel, rel=1e-9, abs=1e-15), p["name"]
        assert p["max_abs"] == pytest.approx(max_abs, rel=1e-12, abs=0), p["name"]
    errors = {p["name"]: p["rel_l2"] for p in report["parameters"]}
    if scheme.startswith("q4"):  # 4-bit groups: a few percent, never zero
        assert all(0.005 < e < 0.2 for n, e in errors.items() if "norm" not in n)


def test_float16_overflow_is_reported(weightcast_bin, checkpoints, tmp_path):
    """The fixture's finite 70000 becomes infinity in float16: the pack's record is flagged, its
    source is not, and the error figures leave the infinity out."""
    src = checkpoints["bf16-untied"]
    run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "-o", tmp_path / "out")
    report, rc = verify(weightcast_bin, tmp_path / "out", "--against", src)
    shard = next(s["dataPath"] for s in manifest(tmp_path / "out")["records"]
                 if any(r["name"] == "model.norm.weight" for r in s["records"]))
    assert rc == 1 and problems(report) == [("nonfinite", shard, "model.norm.weight")]
    norm = next(p for p in report["parameters"] if p["name"] == "model.norm.weight")
    assert (norm["source_inf"], norm["decoded_inf"]) == (0, 1)


def test_pack_written_by_the_oracle(weightcast_bin, checkpoints, tmp_path):
    """A pack written by an independent writer (the MLC oracle), its scheme named by the
    mlc-chat-config.json MLC puts beside it."""
    src = finite_copy(checkpoints["f32-tied-sharded"], tmp_path / "src")
    mlc_oracle.convert(src, "q3f16_1", str(tmp_path / "pack"))
    with open(tmp_path / "pack" / "mlc-chat-config.json", "w") as f:
        json.dump({"quantization": "q3f16_1"}, f)
    report, rc = verify(weightcast_bin, tmp_path / "pack", "--against", src)
    assert rc == 0 and report["quantization"] == "q3f16_1"
    arrays, refs = pack_arrays(tmp_path / "pack"), references(src, "q3f16_1")
    for p in report["parameters"]:
        ref, role = refs[p["name"]]
        rel, _ = numpy_figures(ref, decoded_param(arrays, p["name"], ref, "q3f16_1", role))
        assert p["rel_l2"] == pytest.approx(rel, rel=1e-9, abs=1e-15)


def test_awq_pack_compares_exactly(weightcast_bin, tmp_path):
    make_fixtures.make_awq(str(tmp_path / "awq"))
    src = finite_copy(tmp_path / "awq", tmp_path / "src")  # its float16 norm holds an infinity
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_autoawq", "-o", tmp_path / "out")
    report, rc = verify(weightcast_bin, tmp_path / "out", "--against", src)
    assert rc == 0 and report["quantization"] == "q4f16_autoawq"
    packed = [p for p in report["parameters"] if p["name"].endswith(("qweight", "qzeros", "scales"))]
    assert len(packed) == 3 * 4 * 2  # qkv, o, gate_up, down in 2 layers
    assert all(p["rel_l2"] == 0 and p["max_abs"] == 0 for p in packed)


def test_fp8_block_checkpoint_pack(weightcast_bin, tmp_path):
    """An FP8 block checkpoint (Qwen3-MoE, experts stacked): its float8 weights are stored as they
    are and compare exactly; its float32 scales are stored as bfloat16 words (f32-to-bf16), which
    verify measures: nonzero, within bfloat16's rounding."""
    src = tmp_path / "src"
    make_arch_fixtures.make("qwen3_moe", str(src), fp8_blocks=(16, 16))
    run_cli(weightcast_bin, "convert", src, "--quantization", "fp8_e4m3fn_bf16_block_scale", "-o", tmp_path / "out")
    report, rc = verify(weightcast_bin, tmp_path / "out", "--against", src)
    assert rc == 0 and report["quantization"] == "fp8_e4m3fn_bf16_block_scale"
    dtypes = {r["name"]: r["dtype"] for r in report["records"]}
    by_dtype = lambda d: [p for p in report["parameters"] if dtypes[p["name"]] == d]  # noqa: E731
    fp8, scales = by_dtype("float8_e4m3fn"), by_dtype("float32")
    assert any(p["name"].endswith("moe_gate_up_proj.weight") for p in fp8)
    assert all(p["rel_l2"] == 0 and p["max_abs"] == 0 for p in fp8)
    assert scales and all(0 < p["rel_l2"] < 2 ** -8 for p in scales)


# ---------------------------------------------------------------- corruption, reported exactly


def test_flipped_byte(weightcast_bin, packs, tmp_path):
    pack = copy_pack(packs, "q4f16_1", tmp_path)
    shard = next(s for s in manifest(pack)["records"] if any(r["dtype"] == "float16" for r in s["records"]))
    rec = next(r for r in shard["records"] if r["name"].endswith("norm.weight"))
    path = pack / shard["dataPath"]
    data = bytearray(path.read_bytes())
    data[rec["byteOffset"]] ^= 0x01  # the lowest mantissa bit of a float16: still finite
    path.write_bytes(bytes(data))
    report, rc = verify(weightcast_bin, pack)
    assert rc == 1 and problems(report) == [("md5", shard["dataPath"], "")]


def test_truncated_shard(weightcast_bin, packs, tmp_path):
    pack = copy_pack(packs, "q0f16", tmp_path)
    shard = manifest(pack)["records"][0]
    size = shard["nbytes"] - 3
    os.truncate(pack / shard["dataPath"], size)
    past = [r["name"] for r in shard["records"] if r["byteOffset"] + r["nbytes"] > size]
    report, rc = verify(weightcast_bin, pack)
    expected = [("shard_size", shard["dataPath"], "")] + [("record_bounds", shard["dataPath"], n) for n in past]
    assert rc == 1 and len(past) == 1 and problems(report) == sorted(expected)
    assert report["shards"][0]["size"] == size


def test_record_past_its_shard(weightcast_bin, packs, tmp_path):
    pack = copy_pack(packs, "q4f16_1", tmp_path)
    m = manifest(pack)
    shard = m["records"][-1]
    rec = shard["records"][0]
    rec["byteOffset"] = shard["nbytes"] - rec["nbytes"] + 1
    with open(pack / "tensor-cache.json", "w") as f:
        json.dump(m, f, indent=4)
    report, rc = verify(weightcast_bin, pack)
    assert rc == 1 and problems(report) == [("record_bounds", shard["dataPath"], rec["name"])]
    assert not next(r for r in report["records"] if r["name"] == rec["name"])["readable"]


def test_group_code_out_of_range(weightcast_bin, packs, tmp_path):
    pack = copy_pack(packs, "q4f16_1", tmp_path)
    m = manifest(pack)
    shard = next(s for s in m["records"] if any(r["dtype"] == "uint32" for r in s["records"]))
    rec = next(r for r in shard["records"] if r["dtype"] == "uint32")
    path = pack / shard["dataPath"]
    data = bytearray(path.read_bytes())
    data[rec["byteOffset"]:rec["byteOffset"] + 4] = b"\xff\xff\xff\xff"  # eight codes of 15
    path.write_bytes(bytes(data))
    report, rc = verify(weightcast_bin, pack, "--quantization", "q4f16_1")
    assert rc == 1 and problems(report) == sorted([("md5", shard["dataPath"], ""),
                                                   ("code_range", shard["dataPath"], rec["name"])])
    assert next(r for r in report["records"] if r["name"] == rec["name"])["bad_codes"] == 8


# ---------------------------------------------------------------- NaN / Inf in the source


@pytest.fixture
def poisoned(checkpoints, tmp_path):
    src = tmp_path / "src"
    finite_copy(checkpoints["bf16-untied"], src)

    def edit(t):
        w = t["model.layers.1.mlp.down_proj.weight"].astype(np.float32)
        w[3, 5] = np.nan
        w[4, 6] = np.nan
        t["model.layers.1.mlp.down_proj.weight"] = w.astype(ml_dtypes.bfloat16)
        n = t["model.norm.weight"].astype(np.float32)
        n[7] = np.inf
        t["model.norm.weight"] = n.astype(ml_dtypes.bfloat16)
    edit_tensors(src / "model.safetensors", edit)
    return src


def test_convert_reports_nonfinite_sources(weightcast_bin, poisoned, tmp_path):
    proc = run_cli(weightcast_bin, "convert", poisoned, "--quantization", "q0f16", "-o", tmp_path / "out", "--json")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("weightcast: warning")]
    assert sorted(warnings) == [
        "weightcast: warning: source tensor model.layers.1.mlp.down_proj.weight holds 2 NaN and 0 infinite values",
        "weightcast: warning: source tensor model.norm.weight holds 0 NaN and 1 infinite values"]
    stats = json.loads(proc.stdout)
    assert sorted(stats["nonfinite_sources"], key=lambda s: s["tensor"]) == [
        {"tensor": "model.layers.1.mlp.down_proj.weight", "nan": 2, "inf": 0},
        {"tensor": "model.norm.weight", "nan": 0, "inf": 1}]
    # The SIMD and the portable scans agree.
    env_proc = subprocess.run(
        [weightcast_bin, "convert", str(poisoned), "--quantization", "q4f16_1", "-o", str(tmp_path / "scalar"),
         "--json"], capture_output=True, text=True, env={**os.environ, "WEIGHTCAST_SIMD": "scalar"})
    assert json.loads(env_proc.stdout)["nonfinite_sources"] == stats["nonfinite_sources"]
    # Records whose bytes pass through from the source (bf16 into q0bf16 and q0f32) are scanned too,
    # and the group-quantized ones counted by the cast itself (q4f16_1 at the machine's SIMD level).
    for scheme in ("q0bf16", "q0f32", "q4f16_1"):
        passed = run_cli(weightcast_bin, "convert", poisoned, "--quantization", scheme, "-o",
                         tmp_path / scheme, "--json")
        assert json.loads(passed.stdout)["nonfinite_sources"] == stats["nonfinite_sources"], scheme


@pytest.mark.parametrize("scheme", ["q0f16", "q0bf16"])
def test_convert_strict_refuses_nonfinite(weightcast_bin, poisoned, tmp_path, scheme):
    proc = convert(weightcast_bin, poisoned, tmp_path / "out", "--strict", scheme=scheme)
    assert_error(proc, "model.", "--strict")
    assert not (tmp_path / "out" / "tensor-cache.json").exists()
    clean = convert(weightcast_bin, make_clean(tmp_path), tmp_path / "ok", "--strict", scheme="q0f16")
    assert clean.returncode == 0 and "weightcast: warning" not in clean.stderr


def make_clean(tmp_path):
    src = tmp_path / "clean"
    make_fixtures.make_variant(str(src), "bf16-untied")
    return src


def test_verify_reports_nonfinite(weightcast_bin, poisoned, tmp_path):
    run_cli(weightcast_bin, "convert", poisoned, "--quantization", "q0f16", "-o", tmp_path / "out")
    report, rc = verify(weightcast_bin, tmp_path / "out")
    shard_of = {r["name"]: s["dataPath"] for s in manifest(tmp_path / "out")["records"] for r in s["records"]}
    down, norm = "model.layers.1.mlp.down_proj.weight", "model.norm.weight"
    assert rc == 1 and problems(report) == sorted([("nonfinite", shard_of[down], down),
                                                   ("nonfinite", shard_of[norm], norm)])
    recs = {r["name"]: r for r in report["records"]}
    assert (recs[down]["nan"], recs[down]["inf"], recs[norm]["nan"], recs[norm]["inf"]) == (2, 0, 0, 1)
    report, rc = verify(weightcast_bin, tmp_path / "out", "--against", poisoned)
    assert ("source_nonfinite", "", down) in problems(report)
    params = {p["name"]: p for p in report["parameters"]}
    assert (params[down]["source_nan"], params[norm]["source_inf"]) == (2, 1)


# ---------------------------------------------------------------- scheme and manifest names


def test_named_scheme_that_is_not_the_packs(weightcast_bin, packs):
    src, base = packs
    report, rc = verify(weightcast_bin, base / "q4f16_1", "--against", src, "--quantization", "q4f16_0")
    assert rc == 1 and [p["check"] for p in report["problems"]] == ["plan_mismatch"]
    assert "q4f16_0" in report["problems"][0]["message"]
    # Records the wrong plan gives other shapes are left uncompared rather than misread.
    quantized = [p for p in report["parameters"] if p["name"].endswith("o_proj.weight")]
    assert quantized and all(p["rel_l2"] is None for p in quantized)


@pytest.mark.parametrize("scheme", ["q4f16_1", "q3f16_1"])
def test_3_and_4_bit_twins_are_told_apart(weightcast_bin, tmp_path, scheme):
    """At hidden 64 and intermediate 128 both schemes give every record the same shape (ceil(K/40)
    == ceil(K/32) groups of 4 words); the codes' width decides."""
    make_fixtures.make_variant(str(tmp_path / "raw"), "bf16-untied", hidden=64, inter=128, heads=4, kv_heads=2)
    src = finite_copy(tmp_path / "raw", tmp_path / "src")
    run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", tmp_path / "out")
    report, rc = verify(weightcast_bin, tmp_path / "out", "--against", src)
    assert rc == 0 and report["quantization"] == scheme
    arrays, refs = pack_arrays(tmp_path / "out"), references(src, scheme)
    for p in report["parameters"]:
        ref, role = refs[p["name"]]
        rel, _ = numpy_figures(ref, decoded_param(arrays, p["name"], ref, scheme, role))
        assert p["rel_l2"] == pytest.approx(rel, rel=1e-9, abs=1e-15)


def test_older_manifest_name_and_text_report(weightcast_bin, packs, tmp_path):
    """Packs from before TVM's rename carry ndarray-cache.json; the table names each problem."""
    pack = copy_pack(packs, "q0f16", tmp_path)
    os.rename(pack / "tensor-cache.json", pack / "ndarray-cache.json")
    report, rc = verify(weightcast_bin, pack)
    assert rc == 0 and report["manifest"].endswith("ndarray-cache.json")
    os.remove(pack / "params_shard_0.bin")
    proc = run_cli(weightcast_bin, "verify", pack, check=False)
    assert proc.returncode == 1 and "1 PROBLEMS" in proc.stdout
    assert "shard_missing" in proc.stdout and "params_shard_0.bin does not exist" in proc.stdout


def test_not_a_pack(weightcast_bin, tmp_path):
    assert_error(run_cli(weightcast_bin, "verify", tmp_path, check=False), str(tmp_path), "tensor-cache.json")
