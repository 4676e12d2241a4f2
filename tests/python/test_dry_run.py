"""--dry-run from config.json alone (before the weights are downloaded) and with the weights."""
import json
import re
import shutil

from pathlib import Path

from conftest import EXAMPLE as EXAMPLE_DIR, run_cli

EXAMPLE = Path(EXAMPLE_DIR)


def table_of(stdout):
    return json.loads(stdout[stdout.index("["):])


def summary_of(stdout):
    m = re.search(r"Output: (\d+) records, (\d+) bytes \(.*\) in (\d+) shards; working memory about (\d+) MiB",
                  stdout)
    assert m, stdout
    return tuple(int(g) for g in m.groups())


def test_config_alone_lists_what_a_real_conversion_writes(weightcast_bin, tmp_path):
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(EXAMPLE / "config.json", config_only / "config.json")
    for scheme in ("q0f16", "q4f16_1", "q3f16_0"):
        dry = run_cli(weightcast_bin, "convert", config_only, "--quantization", scheme, "--dry-run").stdout
        assert "planning from config.json alone" in dry
        out = tmp_path / scheme
        run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", scheme, "-o", out)
        cache = json.loads((out / "tensor-cache.json").read_text())
        written = {r["name"]: (r["shape"], r["dtype"]) for shard in cache["records"] for r in shard["records"]}
        planned = {r["name"]: (r["shape"], r["dtype"]) for r in table_of(dry)}
        assert planned == written
        records, total_bytes, shards, memory = summary_of(dry)
        assert records == len(written)
        assert total_bytes == sum(shard["nbytes"] for shard in cache["records"])
        assert shards == len(cache["records"])
        assert memory >= 32  # at least the writer's pending shard
        assert [p.name for p in config_only.iterdir()] == ["config.json"]  # nothing written


def test_config_alone_names_the_hf_tensors_to_download(weightcast_bin, tmp_path):
    shutil.copy(EXAMPLE / "config.json", tmp_path / "config.json")
    table = table_of(run_cli(weightcast_bin, "convert", tmp_path, "--quantization", "q4f16_1", "--dry-run").stdout)
    qkv = next(r for r in table if r["name"] == "model.layers.0.self_attn.qkv_proj.q_weight")
    assert qkv["sources"] == [f"model.layers.0.self_attn.{p}_proj.weight" for p in "qkv"]


def test_with_weights_the_dry_run_checks_them(weightcast_bin, tmp_path):
    dry = run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", "q4f16_1", "--dry-run").stdout
    assert "planning from config.json alone" not in dry
    summary_of(dry)


def test_a_named_source_that_is_missing_is_still_an_error(weightcast_bin, tmp_path):
    shutil.copy(EXAMPLE / "config.json", tmp_path / "config.json")
    proc = run_cli(weightcast_bin, "convert", tmp_path, "--quantization", "q4f16_1", "--dry-run",
                   "--source", tmp_path / "missing.safetensors", check=False)
    assert proc.returncode == 1 and "Model source does not exist" in proc.stderr
