"""Tests of the installed Python package. Run them from outside the source tree against an
installed wheel (.ci/run: pip wheel . -> fresh venv -> pytest tests/binding), so that they
import what `pip install` put in site-packages, not the sources."""
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "examples" / "tiny-llama"


def write_safetensors(path, tensors):
    """A minimal safetensors writer (little-endian, 8-byte aligned header), enough for float16
    fixtures: the binding's tests need no other package than numpy."""
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": {np.float16: "F16", np.float32: "F32"}[arr.dtype.type],
                        "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for b in blobs:
            f.write(b)


def make_llama(path, hidden=64, layers=2, vocab=256, intermediate=128, heads=4, seed=0):
    """A Llama checkpoint in float16 with HF's tensor names."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "hidden_size": hidden, "intermediate_size": intermediate,
              "num_attention_heads": heads, "num_key_value_heads": heads,
              "num_hidden_layers": layers, "rms_norm_eps": 1e-5, "vocab_size": vocab,
              "max_position_embeddings": 128, "tie_word_embeddings": False}
    (path / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(seed)
    block = (rng.standard_normal(1 << 16) * 0.05).astype(np.float16)
    t = lambda *shape: np.resize(block, shape)  # cheap to make, even at hundreds of MB
    tensors = {"model.embed_tokens.weight": t(vocab, hidden), "model.norm.weight": t(hidden),
               "lm_head.weight": t(vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[p + f"self_attn.{n}.weight"] = t(hidden, hidden)
        tensors[p + "mlp.gate_proj.weight"] = t(intermediate, hidden)
        tensors[p + "mlp.up_proj.weight"] = t(intermediate, hidden)
        tensors[p + "mlp.down_proj.weight"] = t(hidden, intermediate)
        tensors[p + "input_layernorm.weight"] = t(hidden)
        tensors[p + "post_attention_layernorm.weight"] = t(hidden)
    write_safetensors(path / "model.safetensors", tensors)
    return path


@pytest.fixture(scope="session")
def tiny():
    return TINY


@pytest.fixture(scope="session")
def big_llama(tmp_path_factory):
    """About 1 GB of float16: seconds on one thread with scalar kernels, long enough to interrupt."""
    return make_llama(tmp_path_factory.mktemp("big") / "llama", hidden=2048, layers=16,
                      vocab=8192, intermediate=5504, heads=16)


def read_pack(directory):
    """Every file of a weight pack, by name, as bytes."""
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file()}
