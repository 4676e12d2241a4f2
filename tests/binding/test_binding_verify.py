"""weightcast.verify(): the CLI's JSON report as a dict."""
import json
import subprocess
import sys

import weightcast
from conftest import make_llama


def test_verify_returns_the_cli_report(tmp_path):
    src = make_llama(tmp_path / "src")
    weightcast.convert_weight(config=src, quantization="q4f16_1", output=tmp_path / "pack")
    report = weightcast.verify(tmp_path / "pack", against=src)
    assert report["ok"] and report["problems"] == [] and report["quantization"] == "q4f16_1"
    assert all(0 < p["rel_l2"] < 0.2 for p in report["parameters"] if "proj" in p["name"])
    cli = subprocess.run([sys.executable, "-m", "weightcast", "verify", str(tmp_path / "pack"),
                          "--against", str(src), "--json"], capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout) == report
    with open(tmp_path / "pack" / "params_shard_0.bin", "r+b") as f:
        f.truncate(10)
    broken = weightcast.verify(tmp_path / "pack")
    assert not broken["ok"] and broken["problems"][0]["check"] == "shard_size"
