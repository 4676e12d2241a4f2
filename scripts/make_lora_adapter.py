#!/usr/bin/env python3
"""A tiny PEFT LoRA adapter for a checkpoint, laid out as PEFT's save_pretrained writes it:
adapter_config.json and adapter_model.safetensors, tensors named
base_model.model.<module>.lora_A.weight [r, in] / .lora_B.weight [out, r] (embeddings:
.lora_embedding_A [r, vocab] / .lora_embedding_B [dim, r]) and modules_to_save replacements as
base_model.model.<tensor name>.

The values are small integers times 2^-10, so that B @ A * scaling is exact in float32 whatever
the summation order: the only rounding left is the one the merge's order of casts decides.

    python3 scripts/make_lora_adapter.py BASE_DIR OUT_DIR --targets q_proj v_proj [--r 8] ...
"""
import argparse
import json
import os
import sys

import ml_dtypes
import numpy as np

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
PREFIX = "base_model.model."


def module_of(name):
    return name[: -len(".weight")]


def targeted(base, targets):
    """The base weights (2-D, named <module>.weight) whose module's last part is a target."""
    return [n for n, a in base.items()
            if n.endswith(".weight") and a.ndim == 2 and module_of(n).rsplit(".", 1)[-1] in targets]


def make(base, out_dir, targets, r=8, alpha=16, rslora=False, fan_in_fan_out=False, modules_to_save=(),
         dtype="float32", seed=0, config_extra=None, rank_pattern=None):
    """Writes the adapter for base ({name: array}); returns its tensors {key: array}. Embedding
    targets (embed_tokens, wte) get lora_embedding_A/B; fan_in_fan_out reads weights as [in, out];
    rank_pattern ({module suffix: r}) gives those modules their own rank."""
    rng = np.random.default_rng(seed)
    np_dtype = DTYPES[dtype]
    r_default = r

    def draw(shape):
        return (rng.integers(-127, 128, size=shape) * 2.0 ** -10).astype(np_dtype)

    tensors = {}
    for name in targeted(base, targets):
        rows, cols = base[name].shape
        module = module_of(name)
        r = next((v for k, v in (rank_pattern or {}).items() if module.endswith("." + k)), r_default)
        if "embed_tokens" in module or module.endswith("wte"):
            tensors[f"{PREFIX}{module}.lora_embedding_A"] = draw((r, rows))
            tensors[f"{PREFIX}{module}.lora_embedding_B"] = draw((cols, r))
            continue
        out_f, in_f = (cols, rows) if fan_in_fan_out else (rows, cols)
        tensors[f"{PREFIX}{module}.lora_A.weight"] = draw((r, in_f))
        tensors[f"{PREFIX}{module}.lora_B.weight"] = draw((out_f, r))
    for module in modules_to_save:
        for name, a in base.items():
            if name.startswith(module + "."):
                tensors[PREFIX + name] = (rng.standard_normal(a.shape) * 0.05).astype(np_dtype)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r_default, "lora_alpha": alpha,
              "target_modules": sorted(targets), "use_rslora": rslora, "fan_in_fan_out": fan_in_fan_out,
              "modules_to_save": list(modules_to_save) or None, "use_dora": False, "lora_dropout": 0.0,
              "bias": "none", "rank_pattern": rank_pattern or {}, "alpha_pattern": {}}
    config.update(config_extra or {})
    write(out_dir, config, tensors)
    return tensors


def write(out_dir, config, tensors):
    from safetensors.numpy import save_file
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file(tensors, os.path.join(out_dir, "adapter_model.safetensors"), metadata={"format": "pt"})


def write_torch_bin(path, tensors):
    """adapter_model.bin laid out as torch.save writes it (a stored zip: archive/data.pkl, a
    protocol-2 pickle of an OrderedDict of _rebuild_tensor_v2 calls, one archive/data/<key> per
    storage), made without torch: stand-in torch modules give the pickler the globals' names."""
    import collections
    import io
    import pickle
    import types
    import zipfile
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_class = {}
    for dtype, name in ((np.float32, "FloatStorage"), (np.float16, "HalfStorage"),
                        (ml_dtypes.bfloat16, "BFloat16Storage")):
        storage_class[np.dtype(dtype)] = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storage_class[np.dtype(dtype)])

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: only pickled")
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils

    class Storage:
        def __init__(self, key, array):
            self.key, self.array = key, array

    class Tensor:
        def __init__(self, storage):
            self.storage = storage

        def __reduce__(self):
            shape = self.storage.array.shape
            stride = tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
            return _rebuild_tensor_v2, (self.storage, 0, shape, stride, False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", storage_class[obj.array.dtype], obj.key, "cpu", obj.array.size)
            return None

    storages = [Storage(str(i), np.ascontiguousarray(a)) for i, a in enumerate(tensors.values())]
    state = collections.OrderedDict((k, Tensor(s)) for k, s in zip(tensors, storages))
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(state)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr(f"archive/data/{s.key}", s.array.tobytes())
        z.writestr("archive/version", "3\n")


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from hf_checkpoint import read_safetensors
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="a directory holding model.safetensors")
    parser.add_argument("out")
    parser.add_argument("--targets", nargs="+", default=["q_proj", "v_proj"])
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16)
    parser.add_argument("--rslora", action="store_true")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args()
    base = read_safetensors(os.path.join(args.base, "model.safetensors"))[1]
    make(base, args.out, args.targets, args.r, args.alpha, args.rslora, dtype=args.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
