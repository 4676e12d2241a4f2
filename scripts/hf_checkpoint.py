"""What the fixture scripts, the tests and the oracle share about HF checkpoints: the tensor names and
shapes transformers saves for Llama-style decoders, seeded values for them, and reading and writing
safetensors checkpoints (one file, or shards with an index as save_pretrained writes them).

make_torch_fixtures.py imports this under Debian's python3 (torch and numpy, nothing else), so
ml_dtypes and safetensors are imported where they are used.
"""
import json
import os
import struct

import numpy as np

# ---------------------------------------------------------------- names and shapes
# A layout is an ordered {HF tensor name: shape}; the order is the order values are drawn in.


def head_rows(cfg):
    """(rows of q, rows of k or v): heads x head_dim, head_dim defaulting to hidden / heads."""
    h = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or h
    d = cfg.get("head_dim") or cfg["hidden_size"] // h
    return h * d, kv * d


def attention(t, prefix, cfg, qkv_bias=False, o_bias=False, names=("q_proj", "k_proj", "v_proj", "o_proj")):
    q, kv = head_rows(cfg)
    h = cfg["hidden_size"]
    for name, rows in zip(names[:3], (q, kv, kv)):
        t[f"{prefix}{name}.weight"] = (rows, h)
        if qkv_bias:
            t[f"{prefix}{name}.bias"] = (rows,)
    t[f"{prefix}{names[3]}.weight"] = (h, q)
    if o_bias:
        t[f"{prefix}{names[3]}.bias"] = (h,)


def swiglu(t, prefix, hidden, inter, names=("gate_proj", "up_proj", "down_proj")):
    t[f"{prefix}{names[0]}.weight"] = (inter, hidden)
    t[f"{prefix}{names[1]}.weight"] = (inter, hidden)
    t[f"{prefix}{names[2]}.weight"] = (hidden, inter)


def experts(t, prefix, count, hidden, inter, names):
    for e in range(count):
        swiglu(t, f"{prefix}{e}.", hidden, inter, names)


def layer_norms(t, prefix, names, width, bias):
    for name in names:
        t[f"{prefix}{name}.weight"] = (width,)
        if bias:
            t[f"{prefix}{name}.bias"] = (width,)


def decoder(cfg, norms=("input_layernorm", "post_attention_layernorm"), qkv_bias=False, tied=None, mlp=True,
            qk_norm=False, rotary=False):
    """HF's Llama layout (LlamaForCausalLM and the many models saved like it): embed_tokens, per
    layer q/k/v/o, [q_norm/k_norm one head wide], gate/up/down, the norms, [the rotary inv_freq
    buffer older exports carry]; model.norm; lm_head unless tied (tied=None: as config.json says)."""
    hidden = cfg["hidden_size"]
    t = {"model.embed_tokens.weight": (cfg["vocab_size"], hidden)}
    _, kv = head_rows(cfg)
    d = kv // (cfg.get("num_key_value_heads") or cfg["num_attention_heads"])
    for n in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{n}."
        attention(t, l + "self_attn.", cfg, qkv_bias=qkv_bias)
        if qk_norm:
            t[l + "self_attn.q_norm.weight"] = (d,)
            t[l + "self_attn.k_norm.weight"] = (d,)
        if mlp:
            swiglu(t, l + "mlp.", hidden, cfg["intermediate_size"])
        for norm in norms:
            t[l + norm + ".weight"] = (hidden,)
        if rotary:
            t[l + "self_attn.rotary_emb.inv_freq"] = (d // 2,)
    t["model.norm.weight"] = (hidden,)
    if not (cfg.get("tie_word_embeddings", False) if tied is None else tied):
        t["lm_head.weight"] = (cfg["vocab_size"], hidden)
    return t


# ---------------------------------------------------------------- values


def plant_special_rows(w, rng):
    """Rows whose group quantization hits exact rounding ties, all-zero groups and partial groups."""
    rows, k = w.shape
    if rows < 4:
        return w
    # max |w| = 7 gives scale 1 for int4: half-integers land exactly on .5 after + 7.
    w[0, :] = rng.choice([0.5, 1.5, 2.5, -0.5, -1.5, -3.5, 6.5], size=k)
    w[0, 0] = 7.0
    w[1, :] = 0.0  # all-zero groups
    w[2, : min(k, 40)] = 0.0  # one zero group for both group sizes, the rest random
    # int3 (max 3): a row scaled so w/scale + 3 hits ties too.
    w[3, :] = rng.choice([0.5, -0.5, 1.5, -2.5], size=k)
    w[3, 0] = 3.0
    return w


def random_tensor(name, shape, rng, planted=False, embed_scale=0.05):
    """Seeded float64 values shaped like a trained model's: matrices N(0, 0.05) (the embedding
    N(0, embed_scale)), norms near 1, biases near 0, the rotary buffer exact; `planted` adds
    plant_special_rows to every matrix."""
    if name.endswith("rotary_emb.inv_freq"):  # computed, not drawn
        d = 2 * shape[0]
        return 1.0 / 10000 ** (np.arange(0, d, 2) / d)
    if len(shape) == 1:
        return rng.standard_normal(shape) * 0.1 + (0 if name.endswith(".bias") else 1)
    w = rng.standard_normal(shape) * (embed_scale if "embed_tokens" in name else 0.05)
    return plant_special_rows(w, rng) if planted else w


def cast_all(tensors, dtype):
    import ml_dtypes
    np_dtype = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    with np.errstate(over="ignore"):  # fixtures plant values beyond float16 on purpose
        return {k: v.astype(np_dtype) for k, v in tensors.items()}


# ---------------------------------------------------------------- writing


def write_config(out_dir, cfg):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def write_checkpoint(out_dir, cfg, tensors, sharded=False):
    """config.json and model.safetensors; or, with `sharded`, shard files and
    model.safetensors.index.json (keys sorted) as transformers' save_pretrained writes them:
    sharded=True splits the tensors in two by insertion order, a {file: [names]} says which go where."""
    from safetensors.numpy import save_file
    write_config(out_dir, cfg)
    if not sharded:
        save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    shards = sharded
    if sharded is True:
        names = list(tensors)
        half = len(names) // 2
        shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for fname, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = fname
    total = sum(t.nbytes for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=False)


def write_bf16_streamed(out_dir, cfg, shapes, fill="random", seed=0):
    """config.json and a single bf16 model.safetensors written tensor by tensor, so memory stays
    small at real model sizes. fill="zeros" leaves the data a sparse hole (instant, for tests that
    need only size); "random" writes N(0, 0.02) from a seeded generator."""
    write_config(out_dir, cfg)
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        if fill == "zeros":
            f.truncate(8 + len(text) + offset)
            return
        for name, shape in shapes.items():
            rows = shape[0]
            step = max(1, (1 << 24) // (int(np.prod(shape[1:])) or 1))
            for r in range(0, rows, step):
                block = rng.standard_normal((min(step, rows - r),) + tuple(shape[1:]), dtype=np.float32) * 0.02
                f.write((block.view(np.uint32) >> 16).astype(np.uint16).tobytes())  # truncated to bf16


# ---------------------------------------------------------------- reading


def parse_header(raw):
    """(the JSON header, offset of the data) of a safetensors file's bytes."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), 8 + n


def read_header(path):
    """(header without __metadata__, offset of the data, the file's bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    header, base = parse_header(raw)
    header.pop("__metadata__", None)
    return header, base, raw


def rewrite_header(path, edit):
    """Applies edit(header) in place and writes the file back with the data unchanged (for tests
    of damaged files)."""
    with open(path, "rb") as f:
        raw = f.read()
    header, base = parse_header(raw)
    edit(header)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[base:])


def numpy_dtypes():
    import ml_dtypes
    return {
        "F16": np.float16, "BF16": ml_dtypes.bfloat16, "F32": np.float32, "F64": np.float64,
        "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
        "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
        "F8_E4M3": ml_dtypes.float8_e4m3fn,
    }


def read_safetensors(path, decode=None):
    """(names in data-offset order, {name: array}). decode(dtype name, shape, bytes) builds each
    array; the default gives read-only numpy arrays (bf16 and FP8 as ml_dtypes types)."""
    header, base, raw = read_header(path)
    if decode is None:
        dtypes = numpy_dtypes()

        def decode(dtype, shape, data):
            return np.frombuffer(data, dtype=dtypes[dtype]).reshape(shape)
    order = sorted(header, key=lambda k: tuple(header[k]["data_offsets"]))
    arrays = {}
    for name in order:
        b, e = header[name]["data_offsets"]
        arrays[name] = decode(header[name]["dtype"], header[name]["shape"], raw[base + b : base + e])
    return order, arrays
