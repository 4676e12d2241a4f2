"""Fixtures and helpers shared by every test module (test modules import only from here, the
oracles and scripts/)."""
import filecmp
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "tiny-llama")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_fixtures  # noqa: E402
import mlc_oracle  # noqa: E402
from hf_checkpoint import read_safetensors  # noqa: E402


@pytest.fixture(scope="session")
def weightcast_bin():
    path = os.environ.get("WEIGHTCAST_BIN", os.path.join(ROOT, "build", "weightcast"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"weightcast binary not found at {path}: build first or set WEIGHTCAST_BIN")
    return path


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Every fixture variant, generated once per session by the committed script."""
    base = tmp_path_factory.mktemp("checkpoints")
    out = {}
    for variant in make_fixtures.VARIANTS:
        make_fixtures.make_variant(str(base / variant), variant)
        out[variant] = str(base / variant)
    return out


# ---------------------------------------------------------------- running the CLI


def run_cli(binary, *args, check=True):
    proc = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"weightcast failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def convert(binary, src, out, *extra, scheme="q4f16_1"):
    """`weightcast convert`, its exit status left to the caller."""
    return run_cli(binary, "convert", src, "--quantization", scheme, "-o", out, *extra, check=False)


def assert_error(proc, *fragments, code=1):
    """A one-line error naming each fragment, the exit code, and no crash."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.count("\n") == 0, f"error is not one line: {err!r}"
    for f in fragments:
        assert f in err, f"{f!r} not in {err!r}"
    assert "Traceback" not in err and "terminate called" not in err


# ---------------------------------------------------------------- reading the output


def assert_same_files(expected_dir, actual_dir):
    expected = sorted(os.listdir(expected_dir))
    actual = sorted(os.listdir(actual_dir))
    assert actual == expected
    for name in expected:
        a, b = os.path.join(expected_dir, name), os.path.join(actual_dir, name)
        if not filecmp.cmp(a, b, shallow=False):
            if name.endswith(".json"):
                assert open(b).read() == open(a).read(), name
            raise AssertionError(f"{name} differs from the oracle's")


def manifest_records(out_dir):
    """{record name: its tensor-cache.json entry} over every shard."""
    with open(os.path.join(out_dir, "tensor-cache.json")) as f:
        manifest = json.load(f)
    return {r["name"]: r for shard in manifest["records"] for r in shard["records"]}


# ---------------------------------------------------------------- editing a checkpoint


def edit_config(src, **changes):
    """Sets each field of src/config.json; None removes it."""
    path = os.path.join(src, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    with open(path, "w") as f:
        json.dump(cfg, f)
    return cfg


def edit_tensors(path, edit):
    """Rewrites a safetensors file with edit({name: array}) applied to its tensors; returns them."""
    from safetensors.numpy import save_file
    tensors = dict(read_safetensors(str(path))[1])
    edit(tensors)
    save_file(tensors, str(path))
    return tensors


def add_activation_scales(src, scheme, block_cols):
    """The activation_scale a static-activation FP8 checkpoint carries for each FP8 Linear, one
    per block of its inputs, under the MLC parameter name the oracle maps it to."""
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)

    def edit(tensors):
        shapes = {name: a.shape for name, a in tensors.items()}
        params, _, _ = mlc_oracle.model_params(cfg, scheme, shapes=shapes)
        for name, srcs, role, *_ in params:
            if role == "fp8":
                in_features = shapes[srcs[0]][-1]
            if name.endswith(".activation_scale"):
                tensors[name] = np.linspace(0.1, 2.0, -(-in_features // block_cols)).astype(np.float32)
    edit_tensors(os.path.join(src, "model.safetensors"), edit)


def skip_under_sanitizers(binary, why):
    """Memory and time bounds hold for the release build; AddressSanitizer's shadow memory and
    quarantine (and LeakSanitizer's thread) change both, so the instrumented run skips them."""
    with open(binary, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip(f"instrumented build: {why}; the release run measures")
