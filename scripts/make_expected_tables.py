#!/usr/bin/env python3
"""Writes tests/expected/<case>.json: the records the Python oracle (tests/python/mlc_oracle.py)
produces for each architecture case under q4f16_1, in loading order, with their sources: the
table `weightcast convert --dry-run` must print.

    python3 scripts/make_expected_tables.py [CASE ...]
"""
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

import arch_cases_last  # noqa: E402
import make_arch_fixtures  # noqa: E402
import mlc_oracle  # noqa: E402


def main(cases):
    for case in cases or make_arch_fixtures.CASES:
        last = case in arch_cases_last.CASES  # Medusa has no q4: its table is q0f16's
        with tempfile.TemporaryDirectory() as tmp:
            (arch_cases_last.make if last else make_arch_fixtures.make)(case, os.path.join(tmp, "src"))
            table = []
            scheme = "q0f16" if case == "medusa" else "q4f16_1"
            mlc_oracle.convert(os.path.join(tmp, "src"), scheme, os.path.join(tmp, "out"), table=table)
        path = os.path.join(ROOT, "tests", "expected", f"{case}.json")
        with open(path, "w") as f:
            json.dump(table, f, indent=1)
            f.write("\n")
        print(f"{path}: {len(table)} records")


if __name__ == "__main__":
    main(sys.argv[1:])
