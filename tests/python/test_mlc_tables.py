"""`--dry-run` on the small config.json of every MLC model type lists exactly the parameters
(names, shapes, dtypes) real MLC exports for it, as recorded in mlc-tables/ (beside the clone at
../shared, or at /work/shared). Skipped where no copy of those tables is present; a model type
weightcast does not convert yet is skipped with its name."""
import json
import os

import numpy as np
import pytest

import arch_cases_more
from conftest import ROOT, run_cli
from hf_checkpoint import write_checkpoint


def tables_dir():
    for base in (os.path.join(ROOT, "..", "shared"), "/work/shared"):
        path = os.path.join(base, "mlc-tables")
        if os.path.isfile(os.path.join(path, "index.json")):
            return os.path.abspath(path)
    return None


TABLES = tables_dir()
MODEL_TYPES = sorted(f[: -len(".config.json")] for f in os.listdir(TABLES) if f.endswith(".config.json")) if TABLES else []
pytestmark = pytest.mark.skipif(TABLES is None, reason="no mlc-tables/ beside the clone (../shared) or in /work/shared")

NEEDS_WEIGHTS = "Fail to detect source weight format"


def dry_run(binary, src, scheme):
    proc = run_cli(binary, "convert", src, "--quantization", scheme, "-o", os.path.join(src, "out"), "--dry-run",
                   check=False)
    return proc


def with_drawn_weights(model_type, cfg, src):
    """A checkpoint of zeros with the HF tensors the family's layout gives for this config, for
    builds that cannot dry-run from config.json alone."""
    if model_type not in arch_cases_more.LAYOUTS:
        pytest.skip(f"{model_type}: this build cannot dry-run from config.json alone, and no layout is drawn for it")
    import ml_dtypes
    shapes = arch_cases_more.LAYOUTS[model_type](cfg)
    write_checkpoint(src, cfg, {k: np.zeros(s, ml_dtypes.bfloat16) for k, s in shapes.items()})


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1"])
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_dry_run_lists_what_mlc_exports(weightcast_bin, tmp_path, model_type, scheme):
    table_path = os.path.join(TABLES, f"{model_type}--{scheme}.json")
    if not os.path.exists(table_path):
        pytest.skip(f"{model_type}: MLC exported no {scheme} table (see mlc-tables/index.json)")
    with open(os.path.join(TABLES, f"{model_type}.config.json")) as f:
        cfg = json.load(f)
    src = str(tmp_path / "src")
    os.makedirs(src)
    with open(os.path.join(src, "config.json"), "w") as f:
        json.dump(cfg, f)
    proc = dry_run(weightcast_bin, src, scheme)
    if f"Unknown model type: {model_type}" in proc.stderr:
        pytest.skip(f"model type not supported yet: {model_type}")
    if NEEDS_WEIGHTS in proc.stderr:
        with_drawn_weights(model_type, cfg, src)
        proc = dry_run(weightcast_bin, src, scheme)
    assert proc.returncode == 0, proc.stderr
    ours = sorted([r["name"], r["shape"], r["dtype"]] for r in json.loads(proc.stdout[proc.stdout.index("["):]))
    with open(table_path) as f:
        mlc = sorted(json.load(f))
    assert ours == mlc
