"""What is particular about Qwen3.5 (the GatedDeltaNet hybrid) and BERT beyond the shared
architecture tests: the layer pattern, the tensors MLC leaves unread, the norms' + 1 in float32,
MLC's refusal of pre-sharding, and the configs MLC refuses."""
import json

import ml_dtypes
import numpy as np
import pytest

import arch_cases_more
import make_arch_fixtures
import mlc_oracle
from conftest import assert_same_files, convert, run_cli
from hf_checkpoint import random_tensor, write_checkpoint


def make(tmp_path, case, **overrides):
    src = tmp_path / "src"
    make_arch_fixtures.make(case, str(src), config_overrides=overrides)
    return src


def write(src, cfg, shapes, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {k: random_tensor(k, s, rng).astype(np.float32).astype(ml_dtypes.bfloat16) for k, s in shapes.items()}
    write_checkpoint(str(src), cfg, tensors)


def config_only_table(binary, tmp_path, cfg, scheme="q0f16"):
    """The --dry-run table from config.json alone."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps(cfg))
    proc = run_cli(binary, "convert", tmp_path / "cfg", "--quantization", scheme, "--dry-run")
    return {r["name"]: r for r in json.loads(proc.stdout[proc.stdout.index("["):])}


def test_qwen3_5_leaves_the_vision_tower_and_mtp_unread(weightcast_bin, tmp_path):
    cfg, _ = arch_cases_more.CASES["qwen3_5"]()
    write(tmp_path / "src", cfg, arch_cases_more.qwen3_5_layout(cfg, extras=True))
    mlc_oracle.convert(str(tmp_path / "src"), "q4f16_1", str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q4f16_1", "-o", tmp_path / "out")
    assert "Unused extern parameters:" in proc.stdout and "mtp.fc.weight" in proc.stdout
    assert "model.visual.patch_embed.proj.weight" in proc.stdout
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("interval,full", [(4, [3, 7]), (1, list(range(8))), (3, [2, 5])])
def test_qwen3_5_full_attention_every_interval(weightcast_bin, tmp_path, interval, full):
    """Every full_attention_interval-th layer is softmax attention, whatever layer_types says."""
    cfg, _ = arch_cases_more.CASES["qwen3_5_text"]()
    names = config_only_table(weightcast_bin, tmp_path, {**cfg, "num_hidden_layers": 8,
                                                         "full_attention_interval": interval})
    assert sorted({int(n.split(".")[2]) for n in names if ".self_attn." in n}) == full
    assert all(".linear_attn." not in n or int(n.split(".")[2]) not in full for n in names)


def test_qwen3_5_keeps_the_decay_parameters_in_float32(weightcast_bin, tmp_path):
    src = make(tmp_path, "qwen3_5")
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "--dry-run")
    table = json.loads(proc.stdout[proc.stdout.index("["):])
    dtypes = {r["name"].rsplit(".", 1)[-1]: r["dtype"] for r in table}
    assert dtypes["A_log"] == dtypes["dt_bias"] == "float32" and dtypes["conv1d_weight"] == "float16"


def test_qwen3_5_text_reads_the_language_model_names(weightcast_bin, tmp_path):
    """MLC's loader reads model.language_model.* for qwen3_5_text too: a checkpoint saved with
    model.layers.* names is reported, not converted."""
    cfg, shapes = arch_cases_more.CASES["qwen3_5_text"]()
    write(tmp_path / "src", cfg, {k.replace("model.language_model.", "model."): s for k, s in shapes.items()})
    proc = convert(weightcast_bin, tmp_path / "src", tmp_path / "o", scheme="q0f16")
    assert proc.returncode != 0 and "model.language_model.embed_tokens.weight" in proc.stderr, proc.stderr


@pytest.mark.parametrize("case,message", [
    ("qwen3_5", "qwen3_5 cannot be pre-sharded"), ("qwen3_5_text", "qwen3_5 cannot be pre-sharded"),
    ("bert", "bert cannot be pre-sharded"), ("bert-bge", "bert-bge cannot be pre-sharded"),
])
def test_preshard_refusals(weightcast_bin, tmp_path, case, message):
    proc = convert(weightcast_bin, make(tmp_path, case), tmp_path / "o", "--tensor-parallel-shards", "2",
                   scheme="q0f16")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_bert_declares_nothing_unused_but_bge_does(weightcast_bin, tmp_path):
    cfg, _ = arch_cases_more.CASES["bert"]()
    write(tmp_path / "src", cfg, arch_cases_more.bert_layout(cfg, pooler=True))
    proc = run_cli(weightcast_bin, "convert", tmp_path / "src", "--quantization", "q0f16", "-o", tmp_path / "out")
    assert "Unused extern parameters: pooler.dense.bias, pooler.dense.weight" in proc.stdout


def test_bert_intermediate_size_null_means_four_times_hidden(weightcast_bin, tmp_path):
    cfg, _ = arch_cases_more.CASES["bert"]()
    table = config_only_table(weightcast_bin, tmp_path, {**cfg, "intermediate_size": None})
    h = arch_cases_more.H
    assert table["encoder.layer.0.intermediate.dense.weight"]["shape"] == [4 * h, h]


@pytest.mark.parametrize("case,changes,message", [
    ("qwen3_5", {"max_position_embeddings": None}, "Unable to determine the maximum sequence length"),
    ("qwen3_5_text", {"full_attention_interval": 0}, '"full_attention_interval" must be positive'),
    ("qwen3_5_text", {"hidden_act": "gelu_new"}, 'hidden_act "gelu_new"'),
    ("qwen3_5_text", {"vocab_size": None}, '"vocab_size"'),
    ("bert", {"layer_norm_eps": None}, '"layer_norm_eps"'),
    ("bert", {"hidden_act": "tanh"}, 'hidden_act "tanh"'),
    ("bert", {"head_dim": 8}, "must equal hidden_size"),
    ("bert-bge", {"max_position_embeddings": None}, "Unable to determine the maximum sequence length"),
    ("bert", {"tensor_parallel_shards": 3}, "Cannot split 4 attention headsevenly to 3 GPUs."),
])
def test_configs_mlc_refuses(weightcast_bin, tmp_path, case, changes, message):
    src = make(tmp_path, case)
    cfg = json.loads((src / "config.json").read_text())
    target = cfg["text_config"] if "text_config" in cfg else cfg
    target.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        target.pop(key)
    (src / "config.json").write_text(json.dumps(cfg))
    proc = convert(weightcast_bin, src, tmp_path / "o", scheme="q0f16")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
