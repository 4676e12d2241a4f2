"""What a person and a script see: the progress line on a terminal only, --json's summary."""
import json
import os
import pty
import subprocess

from conftest import EXAMPLE, run_cli


def run_with_terminal_stderr(binary, *args):
    """Runs the CLI with stderr on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([binary, *map(str, args)], stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(controller)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_progress_line_on_a_terminal(weightcast_bin, tmp_path):
    rc, out, tty = run_with_terminal_stderr(weightcast_bin, "convert", EXAMPLE, "--quantization", "q4f16_1",
                                            "-o", tmp_path / "out", "--threads", "1")
    assert rc == 0, tty
    assert "GB, " in tty and " MB/s, ETA " in tty and "[" in tty, tty
    assert "Parameter size after quantization" in out


def test_no_progress_when_stderr_is_not_a_terminal(weightcast_bin, tmp_path):
    proc = run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", "q4f16_1", "-o", tmp_path / "out")
    assert proc.stderr == ""
    assert "MB/s" not in proc.stdout


def test_no_progress_with_quiet_even_on_a_terminal(weightcast_bin, tmp_path):
    rc, out, tty = run_with_terminal_stderr(weightcast_bin, "convert", EXAMPLE, "--quantization", "q4f16_1",
                                            "-o", tmp_path / "out", "--quiet")
    assert rc == 0 and out == "" and "MB/s" not in tty


def test_json_summary_is_the_only_stdout(weightcast_bin, tmp_path):
    proc = run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", "q4f16_1", "-o", tmp_path / "out",
                   "--json")
    summary = json.loads(proc.stdout)
    assert "Parameter size after quantization" in proc.stderr  # the log moved to stderr
    meta = json.loads((tmp_path / "out" / "tensor-cache.json").read_text())["metadata"]
    assert summary["param_count"] == meta["ParamSize"]
    assert summary["param_bytes"] == meta["ParamBytes"]
    assert abs(summary["bits_per_param"] - meta["BitsPerParam"]) < 1e-9
    assert summary["shard_count"] == len(json.loads((tmp_path / "out" / "tensor-cache.json").read_text())["records"])
    assert summary["output"] == str(tmp_path / "out")
    assert set(summary["seconds"]) == {"plan", "compute", "write", "total"}
