import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import weightcast
from conftest import make_llama, read_pack


def test_imported_from_site_packages_not_the_sources():
    sources = Path(__file__).resolve().parents[2] / "python"
    installed = Path(weightcast.__file__).resolve()
    assert sources not in installed.parents and "site-packages" in installed.parts, installed


def test_registries():
    assert "q4f16_1" in weightcast.SCHEMES and "q0f16" in weightcast.SCHEMES
    assert "llama" in weightcast.MODEL_TYPES and "qwen3" in weightcast.MODEL_TYPES
    assert "huggingface-safetensor" in weightcast.SOURCE_FORMATS


@pytest.mark.parametrize("scheme", ["q0f16", "q4f16_1", "q3f16_0"])
def test_python_call_writes_the_cli_bytes(tiny, tmp_path, scheme):
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    subprocess.run([sys.executable, "-m", "weightcast", "convert", str(tiny), "--quantization",
                    scheme, "-o", str(cli_out), "--quiet"], check=True)
    result = weightcast.convert_weight(config=tiny, quantization=scheme, output=py_out)
    assert read_pack(cli_out) == read_pack(py_out)
    assert result.shard_count >= 1 and result.total_params > 0
    assert result.bits_per_param > 0 and result.size_gb > 0


def test_direct_io_writes_the_same_bytes(tiny, tmp_path):
    cli_out, py_out, plain = tmp_path / "cli", tmp_path / "py", tmp_path / "plain"
    subprocess.run([sys.executable, "-m", "weightcast", "convert", str(tiny), "--quantization",
                    "q4f16_1", "-o", str(cli_out), "--quiet", "--direct-io"], check=True)
    weightcast.convert_weight(config=tiny, quantization="q4f16_1", output=py_out, direct_io=True,
                              sync=False)
    weightcast.convert_weight(config=tiny, quantization="q4f16_1", output=plain)
    assert read_pack(cli_out) == read_pack(plain) == read_pack(py_out)


def test_weightcast_command_on_path_is_the_cli():
    bindir = Path(sys.executable).parent
    proc = subprocess.run([str(bindir / "weightcast"), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("weightcast "), proc


def test_str_and_path_arguments(tiny, tmp_path):
    a = weightcast.convert_weight(str(tiny), "q4f16_1", "llama", "cpu", str(tiny / "model.safetensors"),
                                  "huggingface-safetensor", str(tmp_path / "a"))
    b = weightcast.convert_weight(config=Path(tiny), quantization="q4f16_1", model="llama",
                                  device="cpu", source=Path(tiny) / "model.safetensors",
                                  source_format="huggingface-safetensor", output=tmp_path / "b")
    timing = ("plan_seconds", "compute_seconds", "write_seconds", "total_seconds")
    assert {k: v for k, v in vars(a).items() if k not in timing} == \
        {k: v for k, v in vars(b).items() if k not in timing}
    assert read_pack(tmp_path / "a") == read_pack(tmp_path / "b")


class Quantization:  # stand-ins of MLC's objects, which carry a .name
    def __init__(self, name):
        self.name = name


class Model:
    def __init__(self, name):
        self.name = name


class Device:  # tvm.runtime.Device: DLPack type and index
    def __init__(self, device_type, device_id=0):
        self.device_type, self.device_id = device_type, device_id


def test_mlc_object_arguments(tiny, tmp_path):
    weightcast.convert_weight(config=tiny, quantization=Quantization("q4f16_1"),
                              model=Model("llama"), device=Device(1), source=tiny,
                              source_format="auto", output=tmp_path / "objects")
    weightcast.convert_weight(tiny, "q4f16_1", output=tmp_path / "names")
    assert read_pack(tmp_path / "objects") == read_pack(tmp_path / "names")


def test_statistics_logged_as_mlc_does(tiny, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="weightcast"):
        result = weightcast.convert_weight(tiny, "q4f16_1", output=tmp_path / "out")
    text = caplog.text
    assert f"Parameter size after quantization: {result.size_gb:.3f} GB" in text
    assert "Total parameters: " in text and f"Bits per parameter: {result.bits_per_param:.3f}" in text


def test_quiet_logs_nothing(tiny, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="weightcast"):
        weightcast.convert_weight(tiny, "q4f16_1", output=tmp_path / "out", quiet=True)
    assert caplog.text == ""


def test_missing_paths_raise_file_not_found(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        weightcast.convert_weight(tmp_path / "nowhere", "q4f16_1", output=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="Model source does not exist"):
        weightcast.convert_weight(tiny, "q4f16_1", source=tmp_path / "nowhere.safetensors",
                                  output=tmp_path / "out")


def test_bad_input_raises_value_error(tmp_path):
    ckpt = make_llama(tmp_path / "ckpt", hidden=64)
    cfg = (ckpt / "config.json").read_text().replace('"intermediate_size": 128',
                                                      '"intermediate_size": 96')
    (ckpt / "config.json").write_text(cfg)  # the checkpoint's MLP is 128 wide: a shape mismatch
    with pytest.raises(ValueError, match="shape"):
        weightcast.convert_weight(ckpt, "q4f16_1", output=tmp_path / "out")
    with pytest.raises(ValueError, match="Unknown quantization"):
        weightcast.convert_weight(ckpt, "q9f99", output=tmp_path / "out")


def test_not_implemented_where_mlc_raises_it(tiny, tmp_path):
    with pytest.raises(NotImplementedError):
        weightcast.convert_weight(tiny, "q4f16_ft", output=tmp_path / "out")


def test_keyboard_interrupt_within_a_second(big_llama, tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import signal, sys, weightcast
        # Python leaves SIGINT alone when it starts ignored (a background job of a script): the
        # handler that raises KeyboardInterrupt is put back, as in an interactive session.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            weightcast.convert_weight({str(big_llama)!r}, "q4f16_1", output={str(out)!r},
                                      threads=1, quiet=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
            sys.exit(42)
        print("finished", flush=True)
    """)
    # Scalar kernels on one thread: seconds of work on any machine, so the interrupt lands mid-run.
    env = dict(os.environ, WEIGHTCAST_SIMD="scalar")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 30
    started = lambda: out.exists() and any(out.glob(".weightcast-staging*"))
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # interrupt once the conversion has started writing
    time.sleep(0.2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 42 and "KeyboardInterrupt" in stdout, (proc.returncode, stdout)
    assert elapsed < 1.5, elapsed
    assert not (out / "tensor-cache.json").exists()


def test_inspect_returns_the_tensors_as_data(tiny):
    info = weightcast.inspect(tiny / "model.safetensors")
    assert info["format"] == "huggingface-safetensor"
    names = {t["name"]: t for t in info["tensors"]}
    q = names["model.layers.0.self_attn.q_proj.weight"]
    assert q["dtype"] in ("float16", "bfloat16", "float32") and len(q["shape"]) == 2
    assert q["file"].endswith("model.safetensors")
    assert "model.layers.0.self_attn.q_proj.weight" in info["text"]


def test_inspect_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        weightcast.inspect(tmp_path / "nothing.safetensors")
