#!/usr/bin/env python3
"""weightcast benchmark: conversion time and peak memory against a plain copy of the source.

Generates deterministic synthetic bf16 safetensors checkpoints with real Llama shapes (cached in
bench/cache/), then alternates, for several repeats, `cp -r SOURCE NEW_DIR` (the baseline) and
`weightcast convert` for each scheme, each into a fresh output directory with a warm page cache.
Reports the median wall time, CPU time and peak RSS of each, and the ratio convert / copy, as a
table and as JSON (bench/results/<shape>.json).

    python3 bench/run_bench.py --shape tinyllama                 # the figures in the README
    python3 bench/run_bench.py --shape llama2-7b --schemes q4f16_1
    python3 bench/run_bench.py --shape small --repeats 1         # the reduced form CI runs
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import make_fixtures  # noqa: E402

SMALL = (32000, 256, 2, 704, 8, 2)  # a few MB: keeps the CI run short
DEFAULT_SCHEMES = ["q4f16_1", "q4f16_0", "q3f16_1", "q0f16", "q0f32"]


def ensure_checkpoint(shape, cache_dir):
    path = os.path.join(cache_dir, shape)
    done = os.path.join(path, ".complete")
    if os.path.exists(done):
        return path
    shutil.rmtree(path, ignore_errors=True)
    print(f"generating the {shape} checkpoint in {path} (cached for later runs)...", flush=True)
    if shape == "small":
        v, h, layers, inter, heads, kv = SMALL
        cfg = make_fixtures.config_for(False, None, layers=layers, hidden=h, inter=inter, heads=heads,
                                       kv_heads=kv, vocab=v)
        make_fixtures.write_synthetic(path, cfg=cfg)
    else:
        make_fixtures.write_synthetic(path, shape_name=shape)
    open(done, "w").close()
    return path


def warm(path):
    """Reads every file once so both contenders start from a warm page cache."""
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                while fh.read(1 << 24):
                    pass


def measure(cmd):
    """(wall s, cpu s, peak RSS MiB) of a command, read by /usr/bin/time: rusage taken from
    Python itself would count the interpreter's own pages, inherited across fork."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name, *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        user, system, rss_kib = report.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kib) / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="tinyllama", choices=["small", *make_fixtures.SHAPES])
    ap.add_argument("--schemes", nargs="+", default=DEFAULT_SCHEMES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="weightcast --threads (0: all cores)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "weightcast"))
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--scratch", default=None, help="where outputs go (default: next to the cache)")
    args = ap.parse_args()

    src = ensure_checkpoint(args.shape, args.cache)
    src_bytes = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src))
    scratch = tempfile.mkdtemp(prefix="weightcast-bench-", dir=args.scratch or args.cache)
    samples = {name: [] for name in ["copy", *args.schemes]}
    try:
        warm(src)
        for rep in range(args.repeats):
            for name in samples:
                out = os.path.join(scratch, f"{name}-{rep}")
                if name == "copy":
                    cmd = ["cp", "-r", src, out]
                else:
                    cmd = [args.binary, "convert", src, "--quantization", name, "-o", out,
                           "--threads", str(args.threads), "--quiet"]
                samples[name].append(measure(cmd))
                shutil.rmtree(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    copy_wall = statistics.median(s[0] for s in samples["copy"])
    rows = []
    for name, runs in samples.items():
        wall = statistics.median(r[0] for r in runs)
        rows.append({"run": name, "wall_s": round(wall, 3),
                     "cpu_s": round(statistics.median(r[1] for r in runs), 3),
                     "peak_rss_mib": round(max(r[2] for r in runs), 1),
                     "ratio_to_copy": round(wall / copy_wall, 3)})
    result = {"shape": args.shape, "source_bytes": src_bytes, "repeats": args.repeats,
              "threads": args.threads or os.cpu_count(), "cpus": os.cpu_count(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "results": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.shape}.json"), "w") as f:
        json.dump(result, f, indent=2)

    print(f"\n{args.shape}: {src_bytes / 1e9:.2f} GB bf16 source, median of {args.repeats}, "
          f"{result['threads']} threads")
    print(f"{'run':<10} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13} {'/ copy':>7}")
    for r in rows:
        print(f"{r['run']:<10} {r['wall_s']:>8.3f} {r['cpu_s']:>8.3f} {r['peak_rss_mib']:>13.1f} "
              f"{r['ratio_to_copy']:>7.2f}")


if __name__ == "__main__":
    main()
