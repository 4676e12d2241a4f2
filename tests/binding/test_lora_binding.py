"""convert_weight(..., lora_adapter=...): MLC's eighth parameter, the same bytes as the CLI's
--lora-adapter (tests/python/test_lora.py checks those against an oracle)."""
import json
import subprocess
import sys

import numpy as np
import pytest

import weightcast
from conftest import make_llama, read_pack, write_safetensors


def make_adapter(path, hidden=64, r=4):
    path.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": r, "lora_alpha": 8, "target_modules": ["q_proj"]}
    (path / "adapter_config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(1)
    tensors = {}
    for i in range(2):
        module = f"base_model.model.model.layers.{i}.self_attn.q_proj"
        tensors[module + ".lora_A.weight"] = (rng.standard_normal((r, hidden)) * 0.1).astype(np.float32)
        tensors[module + ".lora_B.weight"] = (rng.standard_normal((hidden, r)) * 0.1).astype(np.float32)
    write_safetensors(path / "adapter_model.safetensors", tensors)
    return path


def test_lora_adapter_argument_writes_the_cli_bytes(tmp_path):
    ckpt = make_llama(tmp_path / "ckpt")
    adapter = make_adapter(tmp_path / "adapter")
    cli_out, py_out, plain = tmp_path / "cli", tmp_path / "py", tmp_path / "plain"
    subprocess.run([sys.executable, "-m", "weightcast", "convert", str(ckpt), "--quantization", "q4f16_1",
                    "--lora-adapter", str(adapter), "-o", str(cli_out), "--quiet"], check=True)
    weightcast.convert_weight(ckpt, "q4f16_1", "auto", "auto", "auto", "auto", py_out, adapter)
    weightcast.convert_weight(ckpt, "q4f16_1", output=plain)
    assert read_pack(cli_out) == read_pack(py_out)
    assert read_pack(py_out) != read_pack(plain)


def test_missing_adapter_raises_value_error(tmp_path):
    ckpt = make_llama(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="LoRA adapter directory does not exist"):
        weightcast.convert_weight(ckpt, "q4f16_1", output=tmp_path / "out",
                                  lora_adapter=tmp_path / "nowhere")
