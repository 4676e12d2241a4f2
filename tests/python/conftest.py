import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_fixtures  # noqa: E402


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


def run_cli(binary, *args, check=True):
    proc = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"weightcast failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
