"""--lora-adapter: a PEFT LoRA adapter merged into the base weights as they are read. The pack
must equal the oracle's conversion of the merged copy that MLC converts (PEFT's merge_and_unload
saved by save_pretrained: one model.safetensors, names in sorted order), merged here by numpy."""
import json
import math
import os
import re
import shutil
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import make_arch_fixtures
import make_lora_adapter
import mlc_oracle
from conftest import ROOT, assert_error, assert_same_files, edit_config, run_cli, skip_under_sanitizers
from hf_checkpoint import read_safetensors, write_checkpoint

PREFIX = make_lora_adapter.PREFIX
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def read_model(src):
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    return cfg, dict(read_safetensors(os.path.join(src, "model.safetensors"))[1])


def peft_merge(cfg, base, adapter_dir):
    """PEFT >= 0.12's merge_and_unload on the CPU: adapter weights upcast to float32,
    delta = B @ A (transposed for fan_in_fan_out and embeddings) * scaling in float32, added to
    the weight in float32 and rounded once to its dtype; modules_to_save tensors replace theirs.
    Then what save_pretrained leaves out: the head tied to the embedding."""
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    adapter = dict(read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))[1])
    merged = dict(base)

    def scaling(module):
        """rank_pattern / alpha_pattern: the first key matching the module name or a dotted suffix."""
        def lookup(patterns, default):
            return next((v for k, v in patterns.items() if re.fullmatch(rf"(.*\.)?({k})", module)), default)
        r = lookup(acfg.get("rank_pattern") or {}, acfg["r"])
        alpha = lookup(acfg.get("alpha_pattern") or {}, acfg["lora_alpha"])
        return np.float32(alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r)

    def base_name(module):
        name = module + ".weight"
        return name if name in base else name.split(".", 1)[1]  # a model-class prefix

    for key, a in adapter.items():
        name = key[len(PREFIX):]
        for a_suffix, b_suffix, transpose in ((".lora_A.weight", ".lora_B.weight", acfg["fan_in_fan_out"]),
                                              (".lora_embedding_A", ".lora_embedding_B", True)):
            if name.endswith(a_suffix):
                module = name[: -len(a_suffix)]
                delta = adapter[PREFIX + module + b_suffix].astype(np.float32) @ a.astype(np.float32)
                w = base[base_name(module)]
                merged[base_name(module)] = (w.astype(np.float32) + (delta.T if transpose else delta) * scaling(module)
                                             ).astype(w.dtype)
                break
        else:
            if ".lora_" not in name:
                merged[name] = a.astype(base[name].dtype)
    if cfg.get("tie_word_embeddings"):
        merged.pop("lm_head.weight", None)
    return merged


def expected_pack(cfg, base, adapter_dir, scheme, tmp_path):
    """The oracle's pack of the numpy-merged copy; also checks that the merge changed something."""
    merged = peft_merge(cfg, base, adapter_dir)
    changed = [n for n in merged if n in base and merged[n].tobytes() != base[n].tobytes()]
    assert changed, "the adapter changed no tensor: the test could not tell a merge from none"
    copy = tmp_path / "merged-copy"
    write_checkpoint(str(copy), cfg, dict(sorted(merged.items())))
    mlc_oracle.convert(str(copy), scheme, str(tmp_path / "expected"))
    return tmp_path / "expected"


def convert_with(weightcast_bin, src, adapter, out, scheme, *extra):
    return run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "--lora-adapter", adapter,
                   "-o", out, *extra)


def fixture(tmp_path, case, base_dtype=None):
    src = tmp_path / "base"
    make_arch_fixtures.make(case, str(src))
    cfg, base = read_model(src)
    if base_dtype:
        base = {k: v.astype(np.float32).astype(base_dtype) for k, v in base.items()}
        write_checkpoint(str(src), cfg, base)
    return src, cfg, base


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1"])
@pytest.mark.parametrize("case,adapter_dtype", [("llama", "float32"), ("qwen2", "bfloat16")])
def test_merged_pack_matches_the_oracle(weightcast_bin, tmp_path, case, adapter_dtype, scheme):
    """Every Linear of every layer plus the embedding (lora_embedding_A/B), on bf16 weights."""
    src, cfg, base = fixture(tmp_path, case)
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ALL_LINEAR + ("embed_tokens",), r=8, alpha=16,
                           dtype=adapter_dtype)
    expected = expected_pack(cfg, base, adapter, scheme, tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", scheme)
    assert_same_files(expected, tmp_path / "out")


@pytest.mark.parametrize("base_dtype", [np.float16, np.float32])
def test_float16_and_float32_base_weights(weightcast_bin, tmp_path, base_dtype):
    src, cfg, base = fixture(tmp_path, "llama", base_dtype)
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj", "down_proj"), r=4, alpha=8, dtype="float16")
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert_same_files(expected, tmp_path / "out")


def test_torch_pickle_adapter(weightcast_bin, tmp_path):
    """adapter_model.bin (no .safetensors beside it), bf16 factors, read without running the pickle."""
    src, cfg, base = fixture(tmp_path, "qwen2")
    adapter = tmp_path / "adapter"
    tensors = make_lora_adapter.make(base, str(adapter), ("k_proj", "gate_proj"), r=8, alpha=32, dtype="bfloat16")
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    os.remove(adapter / "adapter_model.safetensors")
    make_lora_adapter.write_torch_bin(str(adapter / "adapter_model.bin"), tensors)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert_same_files(expected, tmp_path / "out")


def test_same_bytes_on_every_simd_path_and_thread_count(weightcast_bin, tmp_path):
    """Gaussian factors, whose products round: the AVX2 FMA path, the scalar one (WEIGHTCAST_SIMD=
    scalar) and one thread must still agree bit for bit."""
    src, _, base = fixture(tmp_path, "llama")
    adapter = tmp_path / "adapter"
    tensors = make_lora_adapter.make(base, str(adapter), ALL_LINEAR, r=16, alpha=16)
    rng = np.random.default_rng(5)
    tensors = {k: (rng.standard_normal(v.shape) * 0.1).astype(np.float32) for k, v in tensors.items()}
    with open(adapter / "adapter_config.json") as f:
        make_lora_adapter.write(str(adapter), json.load(f), tensors)
    outs = []
    for name, env, extra in (("simd", {}, ()), ("scalar", {"WEIGHTCAST_SIMD": "scalar"}, ()),
                             ("one-thread", {}, ("--threads", "1"))):
        outs.append(tmp_path / name)
        subprocess.run([weightcast_bin, "convert", src, "--quantization", "q0f16", "--lora-adapter", adapter,
                        "-o", outs[-1], "-q", *extra], check=True, env={**os.environ, **env})
    assert_same_files(outs[0], outs[1])
    assert_same_files(outs[0], outs[2])


def test_rslora_scales_by_the_square_root_of_r(weightcast_bin, tmp_path):
    src, cfg, base = fixture(tmp_path, "llama")
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj", "up_proj"), r=16, alpha=8, rslora=True)
    expected = expected_pack(cfg, base, adapter, "q0f16", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q0f16")
    assert_same_files(expected, tmp_path / "out")
    # The same adapter without rslora (alpha / r instead of alpha / sqrt(r)) writes other bytes.
    edit_adapter_config(adapter, use_rslora=False)
    convert_with(weightcast_bin, src, adapter, tmp_path / "plain", "q0f16")
    with pytest.raises(AssertionError):
        assert_same_files(expected, tmp_path / "plain")


def test_rank_and_alpha_patterns(weightcast_bin, tmp_path):
    """Per-module r and lora_alpha: v_proj at rank 4, o_proj and layer 1's q_proj at alpha 64."""
    src, cfg, base = fixture(tmp_path, "llama")
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj", "v_proj", "o_proj"), r=8, alpha=16,
                           rank_pattern={"v_proj": 4},
                           config_extra={"alpha_pattern": {"o_proj": 64, r"layers\.1\.self_attn\.q_proj": 64}})
    expected = expected_pack(cfg, base, adapter, "q0f16", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q0f16")
    assert_same_files(expected, tmp_path / "out")
    edit_adapter_config(adapter, alpha_pattern={})
    convert_with(weightcast_bin, src, adapter, tmp_path / "plain", "q0f16")
    with pytest.raises(AssertionError):
        assert_same_files(expected, tmp_path / "plain")


def test_fan_in_fan_out_on_gpt2_conv1d(weightcast_bin, tmp_path):
    """GPT-2's Conv1D weights are stored [in, out]; its adapters name modules under the model
    class's prefix (transformer.h.0...), which the checkpoint's names lack."""
    src, cfg, base = fixture(tmp_path, "gpt2")
    adapter = tmp_path / "adapter"
    prefixed = {"transformer." + k: v for k, v in base.items()}
    make_lora_adapter.make(prefixed, str(adapter), ("c_attn", "c_fc", "c_proj"), r=4, alpha=16,
                           fan_in_fan_out=True)
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert_same_files(expected, tmp_path / "out")


def test_modules_to_save_replace_the_base_tensors(weightcast_bin, tmp_path):
    """lm_head and the final norm trained in full (float32 in the adapter, cast to bf16)."""
    src, cfg, base = fixture(tmp_path, "qwen2")
    adapter = tmp_path / "adapter"
    tensors = make_lora_adapter.make(base, str(adapter), ("q_proj",), r=8, alpha=16,
                                     modules_to_save=("lm_head", "model.norm"))
    assert PREFIX + "lm_head.weight" in tensors and PREFIX + "model.norm.weight" in tensors
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert_same_files(expected, tmp_path / "out")


def write_in_order(path, tensors):
    """A safetensors file whose data follow the dict's order (save_file would sort them)."""
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        data = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


@pytest.mark.parametrize("layout", ["sharded", "module-order"])
def test_records_follow_the_merged_copy_not_the_base(weightcast_bin, tmp_path, layout):
    """A base saved in module order (embedding first, head last), as two shards with a sorted
    index or as one file: MLC reads the merged copy, one file in name order, so its records (and
    BitsPerParam's file count) follow that file."""
    src, cfg, base = fixture(tmp_path, "llama")
    in_module_order = {name: base[name] for name in make_arch_fixtures.CASES["llama"]()[1]}
    assert list(in_module_order) != sorted(base)
    if layout == "sharded":
        os.remove(src / "model.safetensors")
        write_checkpoint(str(src), cfg, in_module_order, sharded=True)
    else:
        write_in_order(src / "model.safetensors", in_module_order)
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("v_proj",), r=8, alpha=16)
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert_same_files(expected, tmp_path / "out")


def test_tied_head_is_left_out_as_save_pretrained_does(weightcast_bin, tmp_path):
    src, cfg, base = fixture(tmp_path, "llama-tied")
    base["lm_head.weight"] = base["model.embed_tokens.weight"]  # a base that stores the tied head
    write_checkpoint(str(src), cfg, base)
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj",), r=8, alpha=16)
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    proc = convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert "Merging LoRA adapter" in proc.stdout and "Unused extern parameters" not in proc.stdout
    assert_same_files(expected, tmp_path / "out")
    plain = run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "plain")
    assert "Unused extern parameters: lm_head.weight" in plain.stdout


@pytest.mark.parametrize("case", ["zip", "gemma"])
def test_torch_base(weightcast_bin, tmp_path, case):
    """A bf16 pytorch_model.bin base. MLC's torch loader widens bf16 to float32 before Gemma's
    norm + 1, but the merged copy it converts is safetensors: no widening there."""
    src = os.path.join(ROOT, "tests", "fixtures", "torch", case)
    values = tmp_path / "values"
    if case == "gemma":
        make_arch_fixtures.make("gemma", str(values))
    else:
        shutil.copytree(os.path.join(ROOT, "examples", "tiny-llama"), values)
    _, base = read_model(values)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj", "o_proj"), r=8, alpha=16)
    expected = expected_pack(cfg, base, adapter, "q4f16_1", tmp_path)
    convert_with(weightcast_bin, src, adapter, tmp_path / "out", "q4f16_1")
    assert_same_files(expected, tmp_path / "out")


def test_dry_run_plans_from_the_merged_copy(weightcast_bin, tmp_path):
    """The plan reads the adapter's header too: an adapter that does not fit fails the dry run."""
    src, _, base = fixture(tmp_path, "llama")
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj",), r=8, alpha=16)
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "--lora-adapter", adapter,
                   "--dry-run")
    assert f"Merging LoRA adapter {adapter} into base model" in proc.stdout
    edit_adapter_config(adapter, r=2)
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", "q0f16", "--lora-adapter", adapter,
                   "--dry-run", check=False)
    assert_error(proc, "expected (2, 64)")


# ---------------------------------------------------------------- memory


def peak_rss_kib(*args):
    """The peak resident set of one run of the CLI, measured from a fresh Python parent."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True,
                              capture_output=True, text=True).stdout)


def test_peak_memory_with_an_adapter_is_no_higher(weightcast_bin, tmp_path):
    """A 128 MiB embedding and a small adapter: the merge holds no copy of the model."""
    skip_under_sanitizers(weightcast_bin, "peak RSS")
    src = tmp_path / "big"
    make_arch_fixtures.make("llama", str(src))
    cfg, base = read_model(src)
    vocab = 1 << 20
    rng = np.random.default_rng(7)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        base[name] = (rng.standard_normal((vocab, 64), dtype=np.float32) * 0.05).astype(ml_dtypes.bfloat16)
    write_checkpoint(str(src), cfg, base)
    edit_config(src, vocab_size=vocab)
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ALL_LINEAR, r=8, alpha=16)
    # Records held whole in both runs: a plain run streaming the embedding drops its source pages
    # as it goes, which a merged tensor (built in memory, one at a time) cannot.
    args = ("convert", src, "--quantization", "q4f16_1", "-q", "--stream-mib", str(1 << 20))
    # The least of three runs: how far the writer's queue lags adds up to ~30 MiB to either.
    without = min(peak_rss_kib(weightcast_bin, *args, "-o", tmp_path / "plain") for _ in range(3))
    with_adapter = min(peak_rss_kib(weightcast_bin, *args, "--lora-adapter", adapter, "-o", tmp_path / "merged")
                       for _ in range(3))
    # A merged copy of the model would add 256 MiB; allow the adapter's own few MiB.
    assert with_adapter <= without + 8 * 1024, (with_adapter, without)


# ---------------------------------------------------------------- errors


def edit_adapter_config(adapter, **changes):
    path = os.path.join(adapter, "adapter_config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(changes)
    with open(path, "w") as f:
        json.dump(cfg, f)


@pytest.fixture
def llama_and_adapter(tmp_path):
    src, _, base = fixture(tmp_path, "llama")
    adapter = tmp_path / "adapter"
    make_lora_adapter.make(base, str(adapter), ("q_proj",), r=8, alpha=16)
    return src, adapter, base


def lora_error(weightcast_bin, src, adapter, tmp_path, *extra, scheme="q4f16_1"):
    out = tmp_path / "out"
    proc = run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "--lora-adapter", adapter,
                   "-o", out, *extra, check=False)
    assert not (out / "tensor-cache.json").exists()
    return proc


def test_missing_adapter_directory(weightcast_bin, llama_and_adapter, tmp_path):
    src, _, _ = llama_and_adapter
    missing = tmp_path / "nowhere"
    assert_error(lora_error(weightcast_bin, src, missing, tmp_path),
                 f"ValueError: LoRA adapter directory does not exist: {missing}")


def test_source_formats_other_than_huggingface_are_refused(weightcast_bin, llama_and_adapter, tmp_path):
    src, adapter, _ = llama_and_adapter
    proc = lora_error(weightcast_bin, src, adapter, tmp_path, "--source-format", "awq", scheme="q4f16_autoawq")
    assert_error(proc, "`--lora-adapter` only supports source formats: "
                       "['huggingface-safetensor', 'huggingface-torch']")


def test_gguf_source_is_refused(weightcast_bin, llama_and_adapter, tmp_path):
    """Checked on the detected format, before the GGUF file is even parsed."""
    src, adapter, _ = llama_and_adapter
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    proc = lora_error(weightcast_bin, src, adapter, tmp_path, "--source", gguf)
    assert_error(proc, "ValueError: `--lora-adapter` only supports source formats: "
                       "['huggingface-safetensor', 'huggingface-torch']")


def rename(adapter, old, new):
    from safetensors.numpy import save_file
    path = os.path.join(adapter, "adapter_model.safetensors")
    tensors = dict(read_safetensors(path)[1])
    tensors = {(k.replace(old, new) if old in k else k): v for k, v in tensors.items()}
    save_file(tensors, path)
    return tensors


def test_adapter_tensor_naming_no_base_tensor(weightcast_bin, llama_and_adapter, tmp_path):
    src, adapter, _ = llama_and_adapter
    rename(adapter, "layers.1.self_attn.q_proj", "layers.7.self_attn.q_proj")
    assert_error(lora_error(weightcast_bin, src, adapter, tmp_path), "adapter_model.safetensors",
                 "layers.7.self_attn.q_proj.lora_A.weight names no base tensor",
                 "model.layers.7.self_attn.q_proj.weight")


def test_rank_other_than_the_config_r(weightcast_bin, llama_and_adapter, tmp_path):
    src, adapter, _ = llama_and_adapter
    edit_adapter_config(adapter, r=4)
    assert_error(lora_error(weightcast_bin, src, adapter, tmp_path), "has shape (8, 64), expected (4, 64)",
                 "rank r=4", "model.layers.0.self_attn.q_proj.weight")


def test_factor_of_the_wrong_shape(weightcast_bin, llama_and_adapter, tmp_path):
    from safetensors.numpy import save_file
    src, adapter, _ = llama_and_adapter
    path = os.path.join(adapter, "adapter_model.safetensors")
    tensors = dict(read_safetensors(path)[1])
    key = PREFIX + "model.layers.0.self_attn.q_proj.lora_B.weight"
    tensors[key] = np.zeros((10, 8), np.float32)
    save_file(tensors, path)
    assert_error(lora_error(weightcast_bin, src, adapter, tmp_path), key, "has shape (10, 8), expected (64, 8)")


def test_lora_a_without_b(weightcast_bin, llama_and_adapter, tmp_path):
    from safetensors.numpy import save_file
    src, adapter, _ = llama_and_adapter
    path = os.path.join(adapter, "adapter_model.safetensors")
    tensors = dict(read_safetensors(path)[1])
    del tensors[PREFIX + "model.layers.1.self_attn.q_proj.lora_B.weight"]
    save_file(tensors, path)
    assert_error(lora_error(weightcast_bin, src, adapter, tmp_path),
                 "model.layers.1.self_attn.q_proj.lora_A.weight has no lora_B partner")


@pytest.mark.parametrize("changes,fragments", [
    ({"use_dora": True}, ("NotImplementedError", "DoRA adapters (use_dora: true) are not supported")),
    ({"peft_type": "IA3"}, ("NotImplementedError", "peft_type IA3 is not supported")),
    ({"lora_bias": True}, ("NotImplementedError", "lora_bias")),
    ({"r": 0}, ("ValueError", "\"r\" must be a positive integer")),
])
def test_unsupported_configs_are_refused_by_name(weightcast_bin, llama_and_adapter, tmp_path, changes, fragments):
    src, adapter, _ = llama_and_adapter
    edit_adapter_config(adapter, **changes)
    assert_error(lora_error(weightcast_bin, src, adapter, tmp_path), "adapter_config.json", *fragments)


def test_adapter_without_weights(weightcast_bin, llama_and_adapter, tmp_path):
    src, adapter, _ = llama_and_adapter
    os.remove(os.path.join(adapter, "adapter_model.safetensors"))
    assert_error(lora_error(weightcast_bin, src, adapter, tmp_path),
                 "no adapter_model.safetensors or adapter_model.bin")
