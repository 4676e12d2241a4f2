"""weightcast: convert LLM checkpoints into MLC-LLM weight packs, byte-identical to
``mlc_llm convert_weight``, without TVM, MLC or a GPU.

A script written for MLC runs by changing its import::

    from weightcast import convert_weight          # was: from mlc_llm.interface.convert_weight import convert_weight
    convert_weight(config=Path("Llama-2-7b-hf"), quantization="q4f16_1", model="llama",
                   device="cpu", source=Path("Llama-2-7b-hf"),
                   source_format="huggingface-safetensor", output=Path("out"))

``quantization``, ``model`` and ``device`` also accept MLC's and TVM's objects
(``Quantization.from_name("q4f16_1")``, ``Model.from_name("llama")``, ``tvm.cpu()``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

from . import _weightcast

__all__ = ["convert_weight", "inspect", "ConvertResult", "SCHEMES", "MODEL_TYPES", "SOURCE_FORMATS"]
__version__ = "0.1.0"

SCHEMES = tuple(_weightcast.quantization_names())
MODEL_TYPES = tuple(_weightcast.model_types())
SOURCE_FORMATS = tuple(_weightcast.source_formats())

logger = logging.getLogger("weightcast")

PathLike = Union[str, os.PathLike]


@dataclasses.dataclass(frozen=True)
class ConvertResult:
    """The statistics MLC logs after a conversion, and where the time went."""

    param_count: int  # records written
    param_bytes: float  # bytes after quantization (float32 counted at 4 bytes)
    total_params: int  # source elements, as MLC counts them
    bits_per_param: float
    shard_count: int
    plan_seconds: float
    compute_seconds: float
    write_seconds: float
    total_seconds: float
    # Source tensors holding NaN or infinity: [{"tensor", "nan", "inf"}], also logged as warnings.
    nonfinite_sources: list = dataclasses.field(default_factory=list)
    requantized_params: int = 0
    requant_error_median: float = 0.0
    requant_error_worst: float = 0.0
    requant_error_worst_param: str = ""

    @property
    def size_gb(self) -> float:
        """"Parameter size after quantization" in MLC's GB (2^30 bytes)."""
        return self.param_bytes / 2**30


# DLPack device type numbers, as tvm.runtime.Device carries them.
_DLPACK_DEVICES = {1: "cpu", 2: "cuda", 3: "cuda", 4: "opencl", 7: "vulkan", 8: "metal",
                   10: "rocm", 15: "webgpu"}


def _name_of(value: Any, what: str) -> str:
    """A str, or an MLC object's name (Quantization.name, Model.name)."""
    if isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    raise TypeError(f"{what} must be a str or an object with a .name, got {type(value).__name__}")


def _device_str(device: Any) -> str:
    """'auto', 'cpu', 'cuda:0', ... from a str or a TVM Device (tvm.cpu(), tvm.cuda(1))."""
    if isinstance(device, str):
        return device
    dtype = getattr(device, "device_type", None)
    if dtype is None and hasattr(device, "dlpack_device_type"):
        dtype = device.dlpack_device_type()
    if dtype is not None:
        kind = _DLPACK_DEVICES.get(int(dtype))
        if kind is None:
            raise ValueError(f"Invalid device name: {device!r}")
        index = getattr(device, "device_id", getattr(device, "index", 0))
        return f"{kind}:{int(index)}"
    raise TypeError(f"device must be a str or a TVM Device, got {type(device).__name__}")


def _path_str(value: PathLike, what: str) -> str:
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{what} must be a str or a path, got {type(value).__name__}")


class _ProgressLine:
    """One line on stderr: parameters and source bytes done of total, the rate and an ETA,
    redrawn at most five times a second."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, p: dict) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and p["done"] != p["total"]:
            return
        self.last = now
        elapsed = now - self.start
        rate = p["bytes_done"] / elapsed if elapsed > 0 else 0.0
        eta = f"{(p['bytes_total'] - p['bytes_done']) / rate:.0f} s" if rate > 0 else "?"
        sys.stderr.write(f"\r\033[K[{p['done']}/{p['total']}] {p['bytes_done'] / 1e9:.2f} / "
                         f"{p['bytes_total'] / 1e9:.2f} GB, {rate / 1e6:.0f} MB/s, ETA {eta}  {p['name']}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def convert_weight(
    config: PathLike,
    quantization: Any,
    model: Any = "auto",
    device: Any = "auto",
    source: PathLike = "auto",
    source_format: str = "auto",
    output: Optional[PathLike] = None,
    lora_adapter: Optional[PathLike] = None,
    *,
    round_mode: str = "ties-even",
    threads: int = 0,
    tensor_parallel_shards: int = 0,
    dry_run: bool = False,
    sync: bool = True,
    quiet: bool = False,
    progress: Optional[bool] = None,
    stream_mib: int = 32,
    on_log: Optional[Callable[[str], None]] = None,
    strict: bool = False,
    dequantize_fp8: bool = False,
    direct_io: bool = False,
) -> ConvertResult:
    """Convert a checkpoint into an MLC weight pack, as ``mlc_llm convert_weight`` does.

    The first eight parameters are MLC's, in MLC's order (``lora_adapter``: a PEFT LoRA adapter
    directory merged into the base weights as they are read). ``tensor_parallel_shards`` (0: read
    ``MLC_INTERNAL_PRESHARD_NUM``), ``round_mode``, ``threads``, ``dry_run``, ``sync`` (False:
    ``--no-sync``), ``stream_mib``, ``strict`` (NaN or infinity in a source is an error),
    ``dequantize_fp8`` (FP8 block checkpoints into any scheme) and ``direct_io`` (shards written
    with O_DIRECT) mirror the CLI's flags. Log lines (MLC's statistics among them) go to the ``weightcast``
    logger, or to ``on_log``; ``quiet`` drops them. ``progress`` (default: stderr is a terminal)
    draws a progress line on stderr.

    Raises ValueError for bad input (shape, dtype, missing or duplicate parameters, unknown
    names), NotImplementedError where MLC raises it, FileNotFoundError for a missing config or
    source, OSError for other I/O failures, KeyboardInterrupt on Ctrl-C (the output directory is
    left as the CLI leaves it: no new manifest).
    """
    config_str = _path_str(config, "config")
    if output is None and not dry_run:
        raise ValueError("output is required (the directory the weight pack is written to)")
    if not os.path.exists(config_str):
        raise FileNotFoundError(f"{config_str} does not exist.")
    source_str = _path_str(source, "source")
    if source_str != "auto" and not os.path.exists(source_str):
        raise FileNotFoundError(f"Model source does not exist: {source_str}")
    if progress is None:
        progress = not quiet and sys.stderr.isatty()
    line = _ProgressLine() if progress else None
    if on_log is None and not quiet:
        on_log = logger.info
    elif quiet:
        on_log = None
    try:
        stats = _weightcast.convert(
            config_str, _name_of(quantization, "quantization"), _name_of(model, "model"),
            _device_str(device), source_str, source_format,
            _path_str(output, "output") if output is not None else "", round_mode, int(threads),
            int(tensor_parallel_shards), bool(dry_run), bool(sync), int(stream_mib), on_log, line,
            _path_str(lora_adapter, "lora_adapter") if lora_adapter is not None else "",
            bool(strict), bool(dequantize_fp8), bool(direct_io))
    finally:
        if line is not None:
            line.close()
    for n in stats["nonfinite_sources"]:
        logger.warning("source tensor %s holds %d NaN and %d infinite values", n["tensor"], n["nan"], n["inf"])
    return ConvertResult(**stats)


def inspect(path: PathLike) -> dict:
    """What a checkpoint holds, without converting it: ``format``, ``files``, ``tensors`` (each a
    dict of ``name``, ``dtype``, ``shape``, ``file``, under the names the converter reads) and
    ``text``, the description ``weightcast inspect`` prints (GGUF metadata included)."""
    path_str = _path_str(path, "path")
    if not os.path.exists(path_str):
        raise FileNotFoundError(f"{path_str} does not exist")
    return _weightcast.inspect(path_str)


def verify(pack: PathLike, against: Optional[PathLike] = None, quantization: Optional[str] = None,
           threads: int = 0) -> dict:
    """``weightcast verify --json``: the report on an MLC weight pack as a dict (docs/verify.md),
    ``ok`` False on any problem. ``against``: the checkpoint directory it was converted from, to
    compare each parameter with; ``quantization``: the pack's scheme when it cannot be inferred."""
    import json
    return json.loads(_weightcast.verify(
        _path_str(pack, "pack"), "" if against is None else _path_str(against, "against"),
        quantization or "", int(threads)))
