"""Every architecture case: a tiny checkpoint with HF's tensor names, converted under q0f16 and
q4f16_1 and compared byte for byte with the Python oracle; `--dry-run`'s table compared with the
committed expected table (tests/expected/<case>.json, written by scripts/make_expected_tables.py
from the oracle)."""
import json
import os

import pytest

import make_arch_fixtures
import mlc_oracle
from conftest import ROOT, assert_same_files, run_cli

EXPECTED = os.path.join(ROOT, "tests", "expected")
TABLE_SCHEME = "q4f16_1"


def table_path(case):
    return os.path.join(EXPECTED, f"{case}.json")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("arch")
    out = {}
    for case in make_arch_fixtures.CASES:
        make_arch_fixtures.make(case, str(base / case))
        out[case] = base / case
    return out


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1"])
@pytest.mark.parametrize("case", list(make_arch_fixtures.CASES))
def test_matches_the_oracle(weightcast_bin, sources, tmp_path, case, scheme):
    mlc_oracle.convert(str(sources[case]), scheme, str(tmp_path / "expected"))
    proc = run_cli(weightcast_bin, "convert", sources[case], "--quantization", scheme, "-o", tmp_path / "out")
    assert "Unused extern parameters" not in proc.stdout
    assert_same_files(tmp_path / "expected", tmp_path / "out")


@pytest.mark.parametrize("case", list(make_arch_fixtures.CASES))
def test_dry_run_table_matches_the_committed_one(weightcast_bin, sources, tmp_path, case):
    proc = run_cli(weightcast_bin, "convert", sources[case], "--quantization", TABLE_SCHEME, "-o",
                   tmp_path / "out", "--dry-run")
    table = json.loads(proc.stdout[proc.stdout.index("["):])
    with open(table_path(case)) as f:
        assert table == json.load(f)


@pytest.mark.parametrize("case", list(make_arch_fixtures.CASES))
def test_committed_table_is_the_oracles(sources, tmp_path, case):
    table = []
    mlc_oracle.convert(str(sources[case]), TABLE_SCHEME, str(tmp_path / "o"), table=table)
    with open(table_path(case)) as f:
        assert table == json.load(f), f"regenerate with scripts/make_expected_tables.py {case}"
