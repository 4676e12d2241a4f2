"""The last MLC model types: Phi-3-vision, Llama 4, LLaVA, RWKV v5 / v6, EAGLE and Medusa. Each
tiny checkpoint (scripts/arch_cases_last.py, real HF tensor names) is converted under q0f16 and
q4f16_1 and compared byte for byte with the Python oracle (arch_oracle_last.py); the `--dry-run`
table is compared with the committed one (tests/expected/<case>.json) and that with the oracle's;
pre-sharding at 2 where MLC allows it, its refusal where MLC's own split cannot work; and the
configs MLC refuses."""
import json
import os

import numpy as np
import pytest

import arch_cases_last
import mlc_oracle
from conftest import ROOT, assert_error, assert_same_files, convert, edit_config, run_cli
from hf_checkpoint import read_safetensors, write_checkpoint

EXPECTED = os.path.join(ROOT, "tests", "expected")
SMALL = [c for c in arch_cases_last.CASES if c != "phi3_v"]


def table_scheme(case):
    return "q0f16" if case == "medusa" else "q4f16_1"  # Medusa has no group quantization


def schemes(case):
    return ["q0f16"] if case == "medusa" else ["q0f16", "q4f16_1"]


def make(tmp_path, case, **overrides):
    src = tmp_path / "src"
    arch_cases_last.make(case, str(src), config_overrides=overrides)
    return src


def check_case(binary, src, tmp_path, case):
    """Every scheme against the oracle, and the dry-run table against the committed table and
    the oracle's own."""
    oracle = []
    for scheme in schemes(case):
        mlc_oracle.convert(str(src), scheme, str(tmp_path / f"expected-{scheme}"),
                           table=oracle if scheme == table_scheme(case) else None)
        proc = run_cli(binary, "convert", src, "--quantization", scheme, "-o", tmp_path / f"out-{scheme}")
        assert "Unused extern parameters" not in proc.stdout
        assert_same_files(tmp_path / f"expected-{scheme}", tmp_path / f"out-{scheme}")
    proc = run_cli(binary, "convert", src, "--quantization", table_scheme(case), "-o", tmp_path / "dry", "--dry-run")
    table = json.loads(proc.stdout[proc.stdout.index("["):])
    with open(os.path.join(EXPECTED, f"{case}.json")) as f:
        committed = json.load(f)
    assert table == committed
    assert oracle == committed, f"regenerate with scripts/make_expected_tables.py {case}"


@pytest.mark.parametrize("case", SMALL)
def test_matches_the_oracle(weightcast_bin, tmp_path, case):
    check_case(weightcast_bin, make(tmp_path, case), tmp_path, case)


def test_phi3_v_with_its_full_vision_tower(weightcast_bin, tmp_path):
    """One test for the ~600 MB checkpoint (CLIP ViT-L/14-336 has MLC's fixed size): both schemes,
    the tables, and pre-sharding at 2 (the tower whole in every shard)."""
    # Its code paths (the CLIP tower's plain mappings) run in smaller tests too; instrumented, the
    # 600 MB conversion alone would take half a minute of CI.
    with open(weightcast_bin, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("instrumented build: the 600 MB phi3_v conversion runs in the release suite")
    src = make(tmp_path, "phi3_v")
    check_case(weightcast_bin, src, tmp_path, "phi3_v")
    mlc_oracle.convert(str(src), "q0f16", str(tmp_path / "expected-tp2"), shards=2)
    run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "--tensor-parallel-shards", "2",
            "-o", tmp_path / "out-tp2")
    assert_same_files(tmp_path / "expected-tp2", tmp_path / "out-tp2")


@pytest.mark.parametrize("case", ["llama4", "eagle", "medusa"])
def test_preshard_matches_the_oracle(weightcast_bin, tmp_path, case):
    """q0f16: the fixtures' 96-wide inputs are 3 groups of 32, which q4 cannot split in two."""
    src = make(tmp_path, case)
    mlc_oracle.convert(str(src), "q0f16", str(tmp_path / "expected"), shards=2)
    run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "--tensor-parallel-shards", "2",
            "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("case,message", [
    ("rwkv5", "Only support single device at this moment."),
    ("rwkv6", "Only support single device at this moment."),
    ("llava", "llava cannot be pre-sharded"),
])
def test_preshard_refused(weightcast_bin, tmp_path, case, message):
    proc = convert(weightcast_bin, make(tmp_path, case), tmp_path / "o", "--tensor-parallel-shards", "2",
                   scheme="q0f16")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_rwkv5_time_decay_is_numpys_exp_to_the_bit(weightcast_bin, tmp_path):
    """exp(-exp(w)) over w from -60 to 5 (float32 sources: exp(w) from 0 to overflow-free 148,
    results down into the subnormals) matches numpy's float32 exp, which MLC's loader calls."""
    src = make(tmp_path, "rwkv5")
    _, tensors = read_safetensors(str(src / "model.safetensors"))
    rng = np.random.default_rng(5)
    for n in range(2):
        w = np.concatenate([rng.uniform(-60, 5, 58), [-0.0, 0.0, 4.5, 4.55, 4.6, 4.99]]).astype(np.float32)
        tensors[f"rwkv.blocks.{n}.attention.time_decay"] = w.reshape(4, 16)
    write_checkpoint(str(src), json.loads((src / "config.json").read_text()), tensors)
    mlc_oracle.convert(str(src), "q0f16", str(tmp_path / "expected"))
    run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "-o", tmp_path / "out")
    assert_same_files(tmp_path / "expected", tmp_path / "out")


def drop(src, *keys, nested=None):
    cfg = json.loads((src / "config.json").read_text())
    target = cfg[nested] if nested else cfg
    for k in keys:
        target.pop(k, None)
    (src / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("case,edit,message", [
    ("rwkv5", {"model_version": "5_1"}, "Only support RWKV v5_2, got 5_1."),
    ("rwkv6", {"model_version": "5_2"}, "Only support RWKV v6_0, got 5_2."),
    ("rwkv5", {"head_size": 48}, "hidden_size (64) must be divisible by head_size (48)"),
    ("phi3_v", {"img_processor": None}, "img_processor"),
    ("eagle", {"rms_norm_eps": None}, "rms_norm_eps"),
    ("medusa", {"medusa_num_layers": None}, "medusa_num_layers"),
])
def test_configs_mlc_refuses(weightcast_bin, tmp_path, case, edit, message):
    """From config.json alone (a dry run needs no weights), so phi3_v's tower is not written."""
    src = tmp_path / "src"
    os.makedirs(src)
    cfg, _ = arch_cases_last.CASES[case]()
    (src / "config.json").write_text(json.dumps(cfg))
    edit_config(src, **edit)
    proc = convert(weightcast_bin, src, tmp_path / "o", "--dry-run", scheme="q0f16")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def text_edit(tmp_path, case, key, value, nested):
    src = tmp_path / "src"
    os.makedirs(src)
    cfg, _ = arch_cases_last.CASES[case]()
    if value is None:
        cfg[nested].pop(key)
    else:
        cfg[nested][key] = value
    (src / "config.json").write_text(json.dumps(cfg))
    return src


@pytest.mark.parametrize("case,nested,key,value,message", [
    ("llama4", "text_config", "interleave_moe_layer_step", 2, "layer 0 is dense"),
    ("llama4", "text_config", "rope_scaling", {"rope_type": "yarn", "factor": 8.0}, 'Unsupported RoPE scaling type "yarn"'),
    ("llama4", "text_config", "rope_scaling", None, "rope_scaling with a rope_type is required"),
    ("llama4", "text_config", "use_qk_norm", None, "use_qk_norm"),
    ("llava", "vision_config", "patch_size", None, "patch_size"),
    ("llava", "text_config", "max_position_embeddings", None, "max_position_embeddings"),
])
def test_nested_configs_mlc_refuses(weightcast_bin, tmp_path, case, nested, key, value, message):
    src = text_edit(tmp_path, case, key, value, nested)
    proc = convert(weightcast_bin, src, tmp_path / "o", "--dry-run", scheme="q0f16")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("case,scheme", [("medusa", "q4f16_1"), ("rwkv6", "q4f16_ft"), ("llava", "q4f16_ft")])
def test_quantizations_mlc_does_not_register(weightcast_bin, tmp_path, case, scheme):
    src = tmp_path / "src"
    os.makedirs(src)
    (src / "config.json").write_text(json.dumps(arch_cases_last.CASES[case]()[0]))
    proc = convert(weightcast_bin, src, tmp_path / "o", "--dry-run", scheme=scheme)
    assert proc.returncode != 0 and f"is not available for model type {case}" in proc.stderr, proc.stderr


@pytest.mark.parametrize("case", list(arch_cases_last.CASES))
def test_detected_from_model_type(weightcast_bin, tmp_path, case):
    """`--model-type auto` (the default) picks the type from config.json's model_type; the dry run
    from config alone lists the oracle's parameters."""
    src = tmp_path / "src"
    os.makedirs(src)
    cfg = arch_cases_last.CASES[case]()[0]
    (src / "config.json").write_text(json.dumps(cfg))
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "-o", tmp_path / "o", "--dry-run")
    names = [r["name"] for r in json.loads(proc.stdout[proc.stdout.index("["):])]
    params, _, _ = mlc_oracle.model_params(cfg, "q0f16")
    assert sorted(names) == sorted(p[0] for p in params)
