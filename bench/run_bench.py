#!/usr/bin/env python3
"""weightcast benchmark: conversion time and peak memory against a plain copy of the source.

Generates deterministic synthetic bf16 safetensors checkpoints with real shapes (cached in
bench/cache/), then alternates, for several repeats, `cp -r SOURCE NEW_DIR` (the baseline) and
`weightcast convert` for each scheme, each into a fresh output directory with a warm page cache.
Conversions run with --no-sync, as the copy does not flush either; one more row runs the first
scheme durably (the default: every shard and manifest flushed to disk before publishing), so the
cost of durable publishing shows apart, and one with --direct-io (shards written past the page
cache). Before every run, copy or conversion alike, a scratch file as large as the source (at most
8 GiB) is written and deleted, so each run starts from the same memory state (level_memory;
--no-level skips it). Reports, per run, the median wall, user and system time and
the peak RSS, and the ratio convert / copy: the median of the per-alternation ratios (each convert against the copy of its
own alternation, since these machines are noisy) with their spread. Each alternation runs the copy
first and the conversions in an order rotated by one from the last. The result goes to
bench/results/<shape>.json and is appended as one line to bench/results/history.jsonl, so a
regression shows against earlier runs; --json prints it.

    python3 bench/run_bench.py --shape tinyllama                 # the figures in the README
    python3 bench/run_bench.py --shape llama2-7b --schemes q4f16_1
    python3 bench/run_bench.py --shape mixtral-6gb --schemes q4f16_1
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
import hf_checkpoint  # noqa: E402
import make_fixtures  # noqa: E402

SMALL = (32000, 256, 2, 704, 8, 2)  # a few MB: keeps the CI run short
DEFAULT_SCHEMES = ["q4f16_1", "q4f16_0", "q3f16_1", "q0f16", "q0bf16", "q0f32"]
# Mixtral-8x7B's layer with two layers only: about 6 GB, most of it in the expert stacks.
MIXTRAL_6GB = dict(vocab=32000, hidden=4096, layers=2, inter=14336, heads=32, kv_heads=8, experts=8)
SHAPES = ["small", *make_fixtures.SHAPES, "mixtral-6gb"]


def write_mixtral(path):
    m = MIXTRAL_6GB
    cfg = make_fixtures.config_for(False, None, layers=m["layers"], hidden=m["hidden"], inter=m["inter"],
                                   heads=m["heads"], kv_heads=m["kv_heads"], vocab=m["vocab"])
    cfg.update(architectures=["MixtralForCausalLM"], model_type="mixtral", num_local_experts=m["experts"],
               num_experts_per_tok=2, max_position_embeddings=2048)
    shapes = hf_checkpoint.decoder(cfg, tied=False, mlp=False)
    for n in range(m["layers"]):
        moe = f"model.layers.{n}.block_sparse_moe."
        shapes[moe + "gate.weight"] = (m["experts"], m["hidden"])
        hf_checkpoint.experts(shapes, moe + "experts.", m["experts"], m["hidden"], m["inter"], ("w1", "w3", "w2"))
    hf_checkpoint.write_bf16_streamed(path, cfg, shapes)


def ensure_checkpoint(shape, cache_dir):
    path = os.path.join(cache_dir, shape)
    done = os.path.join(path, ".complete")
    if os.path.exists(done):
        return path
    shutil.rmtree(path, ignore_errors=True)
    print(f"generating the {shape} checkpoint in {path} (cached for later runs)...", flush=True)
    if shape == "mixtral-6gb":
        write_mixtral(path)
    elif shape == "small":
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


LEVEL_CAP = 8 << 30


def level_memory(scratch, nbytes):
    """Writes and deletes a scratch file of `nbytes` (at most 8 GiB), so that the next run finds
    the same supply of recently used free memory whatever ran before it. On a VM whose host backs
    guest memory lazily, the first touch of a page the guest has not used for a while costs several
    times a reused one (docs/performance.md): without this, a run after one that freed a large
    output (the copy after a q0 conversion, say) is much faster than one after a run that freed
    little, and the ratios measure the order of the runs."""
    path = os.path.join(scratch, "level.tmp")
    block = b"\0" * (64 << 20)
    with open(path, "wb") as f:
        for _ in range(max(1, min(nbytes, LEVEL_CAP) // len(block))):
            f.write(block)
    os.remove(path)


def measure(cmd):
    """(wall s, user s, system s, peak RSS MiB) of a command, read by /usr/bin/time: rusage taken
    from Python itself would count the interpreter's own pages, inherited across fork."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name, *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        user, system, rss_kib = report.read().split()[-3:]
    return wall, float(user), float(system), int(rss_kib) / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="tinyllama", choices=SHAPES)
    ap.add_argument("--schemes", nargs="+", default=DEFAULT_SCHEMES)
    ap.add_argument("--repeats", type=int, default=5, help="alternations (default 5)")
    ap.add_argument("--threads", type=int, default=0, help="weightcast --threads (0: all cores)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "weightcast"))
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--scratch", default=None, help="where outputs go (default: next to the cache)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    ap.add_argument("--no-level", action="store_true",
                    help="do not level the memory before each run (see level_memory)")
    args = ap.parse_args()

    src = ensure_checkpoint(args.shape, args.cache)
    src_bytes = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src))
    scratch = tempfile.mkdtemp(prefix="weightcast-bench-", dir=args.scratch or args.cache)
    durable = f"{args.schemes[0]}+sync"
    direct = f"{args.schemes[0]}+direct"
    samples = {name: [] for name in ["copy", *args.schemes, durable, direct]}
    try:
        warm(src)
        names = list(samples)
        for rep in range(args.repeats):
            # The copy first, then the conversions in an order rotated each alternation: a run's
            # time depends on what ran just before it (what it left in memory), so no scheme
            # always follows the same one.
            shift = rep % (len(names) - 1)
            for name in [names[0], *names[1 + shift:], *names[1:1 + shift]]:
                out = os.path.join(scratch, f"{name}-{rep}")
                if name == "copy":
                    cmd = ["cp", "-r", src, out]
                else:
                    scheme = name.removesuffix("+sync").removesuffix("+direct")
                    cmd = [args.binary, "convert", src, "--quantization", scheme, "-o", out,
                           "--threads", str(args.threads), "--quiet"]
                    if name != durable:
                        cmd.append("--no-sync")
                    if name == direct:
                        cmd.append("--direct-io")
                if not args.no_level:
                    level_memory(scratch, src_bytes)
                samples[name].append(measure(cmd))
                shutil.rmtree(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    result = summarize(args, src_bytes, samples)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.shape}.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(args.out, "history.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)


def summarize(args, src_bytes, samples):
    copies = samples["copy"]
    rows = []
    for name, runs in samples.items():
        ratios = [r[0] / c[0] for r, c in zip(runs, copies)]
        rows.append({"run": name,
                     "wall_s": round(statistics.median(r[0] for r in runs), 3),
                     "user_s": round(statistics.median(r[1] for r in runs), 3),
                     "sys_s": round(statistics.median(r[2] for r in runs), 3),
                     "peak_rss_mib": round(max(r[3] for r in runs), 1),
                     "ratio_to_copy": round(statistics.median(ratios), 3),
                     "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3)})
    return {"shape": args.shape, "source_bytes": src_bytes, "repeats": args.repeats,
            "leveled": not args.no_level,
            "threads": args.threads or os.cpu_count(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "results": rows}


def print_table(result):
    print(f"\n{result['shape']}: {result['source_bytes'] / 1e9:.2f} GB bf16 source, median of "
          f"{result['repeats']} alternations, {result['threads']} threads")
    print(f"{'run':<13} {'wall s':>8} {'user s':>7} {'sys s':>7} {'peak RSS MiB':>13} {'/ copy':>7}  spread")
    for r in result["results"]:
        print(f"{r['run']:<13} {r['wall_s']:>8.3f} {r['user_s']:>7.3f} {r['sys_s']:>7.3f} "
              f"{r['peak_rss_mib']:>13.1f} {r['ratio_to_copy']:>7.2f}  {r['ratio_min']:.2f}-{r['ratio_max']:.2f}")


if __name__ == "__main__":
    main()
