#!/usr/bin/python3
"""Writes the PyTorch fixtures under tests/fixtures/torch with the real torch.save.

Run with Debian's python3 and python3-torch (`apt-get install python3-torch`; pip's torch is a
multi-GB CUDA build):

    /usr/bin/python3 scripts/make_torch_fixtures.py

From examples/tiny-llama/model.safetensors (read with a few lines of json + torch.frombuffer) it
writes the same tensors, in the same order, as:
  zip/pytorch_model.bin           the zip container (torch >= 1.6), bf16
  legacy/pytorch_model.bin        _use_new_zipfile_serialization=False (pre-1.6 layout)
  sharded/pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json (sorted keys)
and, for the reader's unit tests:
  special.pt / special-legacy.pt  every dtype, a shared storage, a transposed (non-contiguous)
                                  view, a view with a storage offset, a None entry
  special.json                    the expected name, dtype, shape and values of special.pt
  malicious-*.pt                  pickles that would run a command or eval if unpickled by Python
  gemma/pytorch_model.bin         the tiny bf16 Gemma of scripts/make_arch_fixtures.py, whose norm
                                  + 1 MLC computes in float32 for .bin sources; generate that
                                  first with pip's Python (and after a full run, which
                                  rewrites the folder):
                                    python3 scripts/make_arch_fixtures.py /tmp/gemma gemma
                                    /usr/bin/python3 scripts/make_torch_fixtures.py /tmp/gemma
"""
import json
import os
import pickle
import shutil
import zipfile

import torch

from hf_checkpoint import read_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "torch")
MARKER = "/tmp/weightcast-pickle-marker"

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def read_torch_tensors(path):
    """{name: torch tensor} in the file's data order."""
    def decode(dtype, shape, data):
        return torch.frombuffer(bytearray(data), dtype=DTYPES[dtype]).reshape(shape).clone()
    return read_safetensors(path, decode)[1]


def write_model(dirname, tensors, **save_kwargs):
    d = os.path.join(OUT, dirname)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "examples", "tiny-llama", "config.json"), d)
    torch.save(tensors, os.path.join(d, "pytorch_model.bin"), **save_kwargs)


def write_sharded(tensors):
    d = os.path.join(OUT, "sharded")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "examples", "tiny-llama", "config.json"), d)
    names = list(tensors)
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate([names[:half], names[half:]]):
        fname = f"pytorch_model-0000{i + 1}-of-00002.bin"
        torch.save({k: tensors[k] for k in part}, os.path.join(d, fname))
        weight_map.update({k: fname for k in part})
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values())},
             "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def special_tensors():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(4, 6, generator=g)
    t = {
        "f32": base.clone(),
        "f16": (base * 3).half(),
        "bf16": (base * 5).bfloat16(),
        "f64": base.double()[:2].clone(),
        "i64": torch.arange(-3, 5, dtype=torch.int64),
        "i32": torch.arange(7, dtype=torch.int32) * -11,
        "i16": torch.tensor([-300, 2, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
    }
    t["tied_a"] = base
    t["tied_b"] = base                 # the same tensor twice: one storage
    t["transposed"] = base.t()         # non-contiguous
    t["narrowed"] = base[1:3]          # a view with a storage offset
    t["none"] = None
    return t


def describe(tensors):
    out = {}
    for name, v in tensors.items():
        if v is None:
            continue
        values = v.contiguous().reshape(-1)
        if v.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            values = values.double().tolist()
        else:
            values = values.long().tolist()
        out[name] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "values": values}
    return out


class RunsCommand:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class Evals:
    def __reduce__(self):
        return (eval, (f"open('{MARKER}', 'w')",))


def write_malicious(name, payload):
    """A zip laid out like torch.save's, whose data.pkl would execute `payload` under torch.load."""
    data = pickle.dumps({"model.embed_tokens.weight": payload}, protocol=2)
    with zipfile.ZipFile(os.path.join(OUT, name), "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", "3\n")


def write_gemma(src):
    d = os.path.join(OUT, "gemma")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(src, "config.json"), d)
    torch.save(read_torch_tensors(os.path.join(src, "model.safetensors")), os.path.join(d, "pytorch_model.bin"))


def main():
    import sys
    if len(sys.argv) > 1:  # only the Gemma fixture, from make_arch_fixtures.py's output
        write_gemma(sys.argv[1])
        return
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    model = read_torch_tensors(os.path.join(ROOT, "examples", "tiny-llama", "model.safetensors"))
    write_model("zip", model)
    write_model("legacy", model, _use_new_zipfile_serialization=False)
    write_sharded(model)
    special = special_tensors()
    torch.save(special, os.path.join(OUT, "special.pt"))
    torch.save(special, os.path.join(OUT, "special-legacy.pt"), _use_new_zipfile_serialization=False)
    with open(os.path.join(OUT, "special.json"), "w") as f:
        json.dump(describe(special), f)
    write_malicious("malicious-system.pt", RunsCommand())
    write_malicious("malicious-eval.pt", Evals())
    with open(os.path.join(OUT, "malicious-legacy.pt"), "wb") as f:  # legacy layout, same trick
        for obj in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        pickle.dump({"w": RunsCommand()}, f, protocol=2)
    print(f"wrote {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
