"""weightcast.verify(): the CLI's JSON report as a dict."""
import json
import logging
import struct
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


def test_convert_reports_nonfinite_sources(tmp_path, caplog):
    src = make_llama(tmp_path / "src")
    path = src / "model.safetensors"
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    begin = 8 + n + json.loads(raw[8:8 + n])["model.norm.weight"]["data_offsets"][0]
    raw[begin:begin + 2] = struct.pack("<H", 0x7E00)  # a float16 NaN
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="weightcast"):
        result = weightcast.convert_weight(config=src, quantization="q0f16", output=tmp_path / "out", quiet=True)
    assert result.nonfinite_sources == [{"tensor": "model.norm.weight", "nan": 1, "inf": 0}]
    assert "model.norm.weight holds 1 NaN" in caplog.text
    report = weightcast.verify(tmp_path / "out")
    assert [(p["check"], p["record"]) for p in report["problems"]] == [("nonfinite", "model.norm.weight")]


def test_strict_makes_a_nonfinite_source_an_error(tmp_path):
    src = make_llama(tmp_path / "src")
    path = src / "model.safetensors"
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    begin = 8 + n + json.loads(raw[8:8 + n])["model.norm.weight"]["data_offsets"][0]
    raw[begin:begin + 2] = struct.pack("<H", 0x7C00)  # a float16 infinity
    path.write_bytes(bytes(raw))
    try:
        weightcast.convert_weight(config=src, quantization="q0f16", output=tmp_path / "out", quiet=True,
                                  strict=True)
    except ValueError as e:
        assert "model.norm.weight" in str(e)
    else:
        raise AssertionError("strict=True converted a source holding infinity")
    assert not (tmp_path / "out" / "tensor-cache.json").exists()
    result = weightcast.convert_weight(config=src, quantization="q0f16", output=tmp_path / "out", quiet=True)
    assert result.nonfinite_sources == [{"tensor": "model.norm.weight", "nan": 0, "inf": 1}]
    assert result.requantized_params == 0 and result.requant_error_worst_param == ""
