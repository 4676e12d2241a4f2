"""Reliability (issue 12): one run per output directory, kills and faults at any moment of a run,
sources that change under it, thread limits, durable publishing, and the small CLI fixes.

Faults are injected without root: WEIGHTCAST_TEST_FAULT="<point>[@n][:sleep=ms]" makes the binary
kill itself (or pause) at a named point of the run (src/util/fault_point.h), and resource limits
are set in the child with preexec_fn."""
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import make_fixtures
from conftest import assert_error, convert, run_cli, skip_under_sanitizers

STAGING = ".weightcast-staging"
LOCK = ".weightcast.lock"


# ---------------------------------------------------------------- fixtures and checks


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """~80 MB of bf16 zeros: under q0f32 three shards and a b16 manifest, in a fraction of a second."""
    cfg = make_fixtures.config_for(False, None, layers=2, hidden=512, inter=1376, heads=8, kv_heads=4,
                                   vocab=32000)
    path = tmp_path_factory.mktemp("medium") / "ckpt"
    make_fixtures.write_synthetic(str(path), cfg=cfg, fill="zeros")
    return path


@pytest.fixture(scope="module")
def refs(weightcast_bin, checkpoints, medium, tmp_path_factory):
    """Reference packs: {name: directory}."""
    base = tmp_path_factory.mktemp("refs")
    out = {}
    for name, src, scheme in [("tiny-q4", checkpoints["bf16-untied"], "q4f16_1"),
                              ("tiny-q0f16", checkpoints["bf16-untied"], "q0f16"),
                              ("tiny-q0f32", checkpoints["bf16-untied"], "q0f32"),
                              ("medium-q0f32", medium, "q0f32")]:
        run_cli(weightcast_bin, "convert", src, "--quantization", scheme, "-o", base / name, "--no-sync")
        out[name] = base / name
    return out


def pack_is_valid(out):
    """Every shard the manifest names has the recorded size and md5."""
    m = json.load(open(os.path.join(out, "tensor-cache.json")))
    for shard in m["records"]:
        data = open(os.path.join(out, shard["dataPath"]), "rb").read()
        if len(data) != shard["nbytes"] or hashlib.md5(data).hexdigest() != shard["md5sum"]:
            return False
    return True


def same_pack(a, b):
    """The same files with the same bytes (and nothing else: no staging folder, no lock file)."""
    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)):
        return False
    return all(open(os.path.join(a, n), "rb").read() == open(os.path.join(b, n), "rb").read() for n in names)


def leftovers(out):
    return [n for n in os.listdir(out) if n.startswith(STAGING)]


def earlier_pack(ref, out):
    shutil.copytree(ref, out)


def start(binary, src, out, scheme, *extra, fault=None, **kw):
    env = dict(os.environ)
    env.pop("WEIGHTCAST_TEST_FAULT", None)
    if fault:
        env["WEIGHTCAST_TEST_FAULT"] = fault
    return subprocess.Popen([binary, "convert", str(src), "--quantization", scheme, "-o", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def wait_for_staging(out, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if out.is_dir() and leftovers(out):
            return
        time.sleep(0.002)
    pytest.fail("the run never staged anything")


# ---------------------------------------------------------------- one run per output directory


def test_two_runs_into_one_directory(weightcast_bin, checkpoints, refs, tmp_path):
    """20 trials of two runs started together: one wins and publishes its complete pack, the other
    fails at once with the lock error naming the directory and the winner's pid; the earlier pack
    (half the trials) is replaced only by a complete one."""
    src = checkpoints["bf16-untied"]
    for trial in range(20):
        out = tmp_path / f"out{trial}"
        if trial % 2:
            earlier_pack(refs["tiny-q0f32"], out)
        # The winner pauses just after taking the lock, so the two always overlap.
        runs = [start(weightcast_bin, src, out, scheme, "--no-sync", fault="locked:sleep=150")
                for scheme in ("q4f16_1", "q0f16")]
        results = [(p, *p.communicate(timeout=60)) for p in runs]
        winners = [i for i, (p, _, _) in enumerate(results) if p.returncode == 0]
        assert len(winners) == 1, [(p.returncode, err) for p, _, err in results]
        winner, loser = results[winners[0]], results[1 - winners[0]]
        assert_error(subprocess.CompletedProcess([], loser[0].returncode, loser[1], loser[2]),
                     f"{out} is in use by another weightcast run (pid {winner[0].pid})")
        assert same_pack(refs[("tiny-q4", "tiny-q0f16")[winners[0]]], out), os.listdir(out)


def test_stale_staging_and_lock_of_a_killed_run_are_cleared(weightcast_bin, checkpoints, refs, tmp_path):
    out = tmp_path / "out"
    proc = start(weightcast_bin, checkpoints["bf16-untied"], out, "q4f16_1", fault="shard-staged")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert leftovers(out) and os.path.exists(out / LOCK)  # what a kill leaves
    run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization", "q4f16_1", "-o", out)
    assert same_pack(refs["tiny-q4"], out)


# ---------------------------------------------------------------- kills and faults


# Every named point of a run, in order; from old-manifests-removed to b16-renamed the directory
# holds no manifest, after manifest-renamed it holds the new one.
POINTS = ["locked", "produced@2", "shard-staged@1", "shard-staged@2", "manifests-staged",
          "old-manifests-removed", "shard-renamed@1", "shard-renamed@2", "stale-removed", "b16-renamed",
          "manifest-renamed", "published"]


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_point(weightcast_bin, medium, refs, tmp_path, point):
    out = tmp_path / "out"
    earlier_pack(refs["tiny-q0f32"], out)
    proc = start(weightcast_bin, medium, out, "q0f32", fault=point)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, point
    index = POINTS.index(point)
    if index < POINTS.index("old-manifests-removed"):
        assert pack_is_valid(out) and open(out / "tensor-cache.json").read() == \
            open(refs["tiny-q0f32"] / "tensor-cache.json").read()
    elif index < POINTS.index("manifest-renamed"):
        assert not os.path.exists(out / "tensor-cache.json")
    else:
        assert pack_is_valid(out) and open(out / "tensor-cache.json").read() == \
            open(refs["medium-q0f32"] / "tensor-cache.json").read()
    # The next run takes over the dead run's lock, clears its staging and publishes.
    run_cli(weightcast_bin, "convert", medium, "--quantization", "q0f32", "-o", out, "--no-sync")
    assert same_pack(refs["medium-q0f32"], out)


def test_kill_at_random_moments(weightcast_bin, medium, refs, tmp_path):
    rng = random.Random(12)
    t = time.time()
    run_cli(weightcast_bin, "convert", medium, "--quantization", "q0f32", "-o", tmp_path / "timing")
    duration = time.time() - t
    for trial in range(10):
        out = tmp_path / f"out{trial}"
        earlier_pack(refs["tiny-q0f32"], out)
        proc = start(weightcast_bin, medium, out, "q0f32")
        time.sleep(rng.uniform(0, duration))
        proc.kill()
        proc.communicate(timeout=60)
        if os.path.exists(out / "tensor-cache.json"):
            assert pack_is_valid(out)
            manifest = open(out / "tensor-cache.json").read()
            assert manifest in (open(refs["tiny-q0f32"] / "tensor-cache.json").read(),
                                open(refs["medium-q0f32"] / "tensor-cache.json").read())


def test_disk_full(weightcast_bin, medium, refs, tmp_path):
    """RLIMIT_FSIZE (ulimit -f) as a full disk: a clear error, the earlier pack intact, no staging."""
    out = tmp_path / "out"
    earlier_pack(refs["tiny-q4"], out)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    proc = start(weightcast_bin, medium, out, "q0f32", preexec_fn=limit)
    _, err = proc.communicate(timeout=60)
    assert_error(subprocess.CompletedProcess([], proc.returncode, "", err), "IOError", "write failed",
                 "File too large")
    assert same_pack(refs["tiny-q4"], out)


@pytest.mark.parametrize("change", ["truncate", "rewrite", "replace"])
def test_source_changed_mid_run(weightcast_bin, medium, refs, tmp_path, change):
    """A source truncated (reads past its end would be SIGBUS), rewritten in place or replaced while
    the run reads it: a clear error naming the file, nothing published, no staging left."""
    src = tmp_path / "src"
    shutil.copytree(medium, src)
    weights = src / "model.safetensors"
    out = tmp_path / "out"
    earlier_pack(refs["tiny-q4"], out)
    proc = start(weightcast_bin, src, out, "q0f32", fault="produced@1:sleep=1000")
    wait_for_staging(out, proc)
    time.sleep(0.2)
    if change == "truncate":
        os.truncate(weights, 1 << 20)
    elif change == "rewrite":
        with open(weights, "r+b") as f:
            f.seek(os.path.getsize(weights) - 8)
            f.write(b"\1" * 8)
    else:
        shutil.copy(weights, src / "new")
        os.replace(src / "new", weights)
    _, err = proc.communicate(timeout=60)
    why = {"truncate": "truncated", "rewrite": "modified", "replace": "replaced"}[change]
    assert_error(subprocess.CompletedProcess([], proc.returncode, "", err), f"{weights}: it was {why}",
                 "nothing was published")
    assert same_pack(refs["tiny-q4"], out)


def test_interrupt_keeps_the_earlier_pack_and_says_so(weightcast_bin, medium, refs, tmp_path):
    out = tmp_path / "out"
    earlier_pack(refs["tiny-q4"], out)
    proc = start(weightcast_bin, medium, out, "q0f32", fault="produced@1:sleep=500")
    wait_for_staging(out, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert_error(subprocess.CompletedProcess([], proc.returncode, "", err),
                 f"Interrupted: interrupted; the earlier pack in {out} is intact", code=130)
    assert same_pack(refs["tiny-q4"], out)


# ---------------------------------------------------------------- threads


def test_threads_beyond_the_bound_are_clamped(weightcast_bin, checkpoints, refs, tmp_path):
    t = time.time()
    proc = convert(weightcast_bin, checkpoints["bf16-untied"], tmp_path / "out", "--threads", "100000")
    assert proc.returncode == 0, proc.stderr
    assert time.time() - t < 20
    bound = max(256, 4 * os.cpu_count())
    assert f"--threads 100000 is more than this machine can use: using {bound}" in proc.stdout
    assert same_pack(refs["tiny-q4"], tmp_path / "out")


@pytest.mark.parametrize("nproc", [1, 30])
def test_low_process_limit(weightcast_bin, checkpoints, refs, nproc):
    """ulimit -u: threads the system refuses are done without, or a clear error; never a hang.
    RLIMIT_NPROC does not bind root, so as root the child also becomes nobody."""
    skip_under_sanitizers(weightcast_bin, "LeakSanitizer needs a thread of its own under the process limit")
    if os.getuid() == 0:
        try:
            import pwd
            nobody = pwd.getpwnam("nobody")
        except (ImportError, KeyError):
            pytest.skip("running as root without a 'nobody' user: RLIMIT_NPROC cannot bind")
    work = tempfile.mkdtemp(prefix="weightcast-nproc-")
    try:
        os.chmod(work, 0o777)
        src = os.path.join(work, "src")
        shutil.copytree(checkpoints["bf16-untied"], src)
        # Copied where the user nobody can run it: the build may sit under /root, closed to it.
        binary = shutil.copy2(weightcast_bin, os.path.join(work, "weightcast"))
        for root, dirs, files in os.walk(work):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), 0o777)

        def limit():
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            if os.getuid() == 0:
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)

        t = time.time()
        proc = subprocess.run([binary, "convert", src, "--quantization", "q4f16_1", "-o",
                               os.path.join(work, "out"), "--threads", "64"],
                              capture_output=True, text=True, preexec_fn=limit, timeout=60)
        assert time.time() - t < 20
        if nproc == 1:  # not even the writer's threads
            assert_error(proc, "cannot start a thread", "ulimit -u")
            assert not os.path.exists(os.path.join(work, "out")) or os.listdir(os.path.join(work, "out")) == []
        else:
            assert proc.returncode == 0, proc.stderr
            assert "of 64 threads (Resource temporarily unavailable): continuing with" in proc.stdout
            assert same_pack(refs["tiny-q4"], os.path.join(work, "out"))
    finally:
        shutil.rmtree(work)


# ---------------------------------------------------------------- durable publishing


def traced(binary, src, out, *extra, tmp_path):
    if not shutil.which("strace"):
        pytest.skip("strace is not installed (apt-get install strace): the call order cannot be traced")
    log = tmp_path / "strace.log"
    proc = subprocess.run(["strace", "-f", "-y", "-qq", "-o", str(log), "-e",
                           "trace=fsync,fdatasync,rename,renameat,renameat2", binary, "convert", str(src),
                           "--quantization", "q0f32", "-o", str(out), *extra], capture_output=True, text=True)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return [line.split(None, 1)[1] for line in open(log) if line.split(None, 1)[1:]]


def test_publishing_is_flushed_in_order(weightcast_bin, medium, tmp_path):
    out = tmp_path / "out"
    calls = traced(weightcast_bin, medium, out, tmp_path=tmp_path)
    manifest = json.load(open(out / "tensor-cache.json"))
    shards = [s["dataPath"] for s in manifest["records"]]
    assert len(shards) >= 3

    def first(pred, what):
        hits = [i for i, c in enumerate(calls) if pred(c)]
        assert hits, f"no {what} in {calls}"
        return hits[0]

    publish = first(lambda c: c.startswith("rename") and c.rstrip().endswith(f'/out/tensor-cache.json", ) = 0')
                    or (c.startswith("rename") and f'"{out}/tensor-cache.json"' in c), "manifest rename")
    for shard in shards:  # each shard's data is on disk before any manifest names it
        i = first(lambda c: c.startswith("fdatasync(") and f"{STAGING}-" in c and f"/{shard}>" in c,
                  f"fdatasync of {shard}")
        assert i < publish
    for name in ("tensor-cache.json", "tensor-cache-b16.json"):
        assert first(lambda c: c.startswith("fdatasync(") and f"{STAGING}-" in c and f"/{name}>" in c,
                     f"fdatasync of the staged {name}") < publish
    assert first(lambda c: c.startswith("fsync(") and f"{STAGING}-" in c, "fsync of the staging folder") < publish
    out_syncs = [i for i, c in enumerate(calls) if c.startswith("fsync(") and f"<{out}>" in c]
    assert any(i < publish for i in out_syncs), "the shards' renames are not flushed before the manifest's"
    assert any(i > publish for i in out_syncs), "the manifest's rename is not flushed"


@pytest.mark.parametrize("sync", [True, False])
def test_direct_io_writes_the_same_pack(weightcast_bin, medium, refs, tmp_path, sync):
    """O_DIRECT shards (padded to whole pages, then cut back) are the buffered run's bytes, with
    the same md5 read back past the page cache; the durable run still flushes every shard."""
    out = tmp_path / "out"
    calls = traced(weightcast_bin, medium, out, "--direct-io", *([] if sync else ["--no-sync"]),
                   tmp_path=tmp_path)
    assert same_pack(refs["medium-q0f32"], out) and pack_is_valid(out)
    shards = json.load(open(out / "tensor-cache.json"))["records"]
    flushed = [c for c in calls if c.startswith("fdatasync(") and "params_shard_" in c]
    assert len(flushed) == (len(shards) if sync else 0), calls


def test_no_sync_skips_every_flush(weightcast_bin, medium, tmp_path):
    calls = traced(weightcast_bin, medium, tmp_path / "out", "--no-sync", tmp_path=tmp_path)
    assert not [c for c in calls if c.startswith(("fsync(", "fdatasync("))]
    assert pack_is_valid(tmp_path / "out")


# ---------------------------------------------------------------- the smaller items


def test_bare_config_file_name(weightcast_bin, checkpoints, refs, tmp_path):
    proc = subprocess.run([weightcast_bin, "convert", "config.json", "--quantization", "q4f16_1", "-o",
                           str(tmp_path / "out")], cwd=checkpoints["bf16-untied"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert same_pack(refs["tiny-q4"], tmp_path / "out")


def test_dry_run_needs_no_output(weightcast_bin, checkpoints):
    proc = run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization", "q4f16_1",
                   "--dry-run")
    assert '"name": "model.embed_tokens.q_weight"' in proc.stdout
    proc = run_cli(weightcast_bin, "convert", checkpoints["bf16-untied"], "--quantization", "q4f16_1",
                   check=False)
    assert proc.returncode == 2 and "--output is required" in proc.stderr


def test_awq_on_a_plain_checkpoint_is_a_short_error(weightcast_bin, checkpoints, tmp_path):
    proc = convert(weightcast_bin, checkpoints["bf16-tp"], tmp_path / "out", scheme="q4f16_autoawq")
    assert_error(proc, "The following extern parameters do not exist in the weight files: ", "and ",
                 " more")
    assert len(proc.stderr) < 600, proc.stderr


def test_inspect_an_mlc_pack(weightcast_bin, refs, tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(refs["medium-q0f32"], pack)
    for target in (pack, pack / "tensor-cache.json", pack / "params_shard_1.bin"):
        out = run_cli(weightcast_bin, "inspect", target).stdout
        assert "MLC weight pack" in out and "every shard matches its size and md5" in out, out
        assert "md5 ok" in out and "model.embed_tokens.weight" in out and "float32" in out
    with open(pack / "params_shard_1.bin", "r+b") as f:
        f.write(b"\1")
    os.truncate(pack / "params_shard_2.bin", 10)
    out = run_cli(weightcast_bin, "inspect", pack).stdout
    assert "2 of 3 shards DO NOT match the manifest" in out and "MD5 MISMATCH" in out and "SIZE 10" in out
    assert_error(run_cli(weightcast_bin, "inspect", tmp_path, check=False), "is a directory without tensor-cache.json")


def test_inspect_honours_ctrl_c(weightcast_bin, refs):
    """Even when started with SIGINT ignored (a background job of a script)."""
    env = dict(os.environ, WEIGHTCAST_TEST_FAULT="inspect:sleep=20000")
    proc = subprocess.Popen([weightcast_bin, "inspect", str(refs["tiny-q4"])], env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    t = time.time()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGINT and time.time() - t < 5
