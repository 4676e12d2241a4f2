"""PyTorch checkpoints (written by the real torch.save, tests/fixtures/torch): the same bytes as
from safetensors, nothing executed, and clear errors for damaged files."""
import json
import os
import shutil
import struct
import zipfile

import pytest

import mlc_oracle
from conftest import EXAMPLE, ROOT, assert_error, assert_same_files, convert, run_cli
from hf_checkpoint import read_safetensors, write_checkpoint

FIX = os.path.join(ROOT, "tests", "fixtures", "torch")
MARKER = "/tmp/weightcast-pickle-marker"


@pytest.mark.parametrize("scheme", mlc_oracle.EXACT_SCHEMES)
@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_bin_and_safetensors_give_identical_output(weightcast_bin, tmp_path, scheme, layout):
    run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", scheme, "-o", tmp_path / "st")
    run_cli(weightcast_bin, "convert", os.path.join(FIX, layout), "--quantization", scheme, "-o", tmp_path / "bin")
    assert_same_files(tmp_path / "st", tmp_path / "bin")


def test_sharded_bin_matches_sharded_safetensors(weightcast_bin, tmp_path):
    """The same shards and index order, once as .bin and once as .safetensors."""
    index = json.load(open(os.path.join(FIX, "sharded", "pytorch_model.bin.index.json")))
    _, arrays = read_safetensors(os.path.join(EXAMPLE, "model.safetensors"))
    shards = {}
    for name, f in index["weight_map"].items():
        shards.setdefault(f.replace(".bin", ".safetensors"), []).append(name)
    st = tmp_path / "st"
    write_checkpoint(str(st), json.load(open(os.path.join(EXAMPLE, "config.json"))), dict(arrays), sharded=shards)
    for scheme in ["q0f16", "q4f16_1", "q4f32_1"]:
        run_cli(weightcast_bin, "convert", st, "--quantization", scheme, "-o", tmp_path / f"st-{scheme}")
        run_cli(weightcast_bin, "convert", os.path.join(FIX, "sharded"), "--quantization", scheme,
                "-o", tmp_path / f"bin-{scheme}")
        assert_same_files(tmp_path / f"st-{scheme}", tmp_path / f"bin-{scheme}")


def test_bin_wins_auto_detection_as_in_mlc(weightcast_bin, tmp_path):
    src = tmp_path / "both"
    shutil.copytree(os.path.join(FIX, "zip"), src)
    open(src / "model.safetensors", "wb").write(b"\x00" * 4)  # unreadable: must not be chosen
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "out")
    assert_error(convert(weightcast_bin, src, tmp_path / "out2", "--source-format", "huggingface-safetensor"),
                 "truncated safetensors file")


def test_source_may_name_the_bin_file(weightcast_bin, tmp_path):
    run_cli(weightcast_bin, "convert", os.path.join(FIX, "zip"), "--quantization", "q0f16", "--source",
            os.path.join(FIX, "zip", "pytorch_model.bin"), "-o", tmp_path / "out")


@pytest.mark.parametrize("fixture,global_name", [("malicious-system.pt", "posix.system"),
                                                 ("malicious-eval.pt", "__builtin__.eval"),
                                                 ("malicious-legacy.pt", "posix.system")])
def test_malicious_pickle_is_refused_and_nothing_runs(weightcast_bin, tmp_path, fixture, global_name):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    src = tmp_path / "evil"
    src.mkdir()
    shutil.copy(os.path.join(EXAMPLE, "config.json"), src)
    shutil.copy(os.path.join(FIX, fixture), src / "pytorch_model.bin")
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), f"refusing global {global_name}")
    assert not os.path.exists(MARKER), "the pickle's payload ran"
    # The fixture really is a payload: the marker path is what it would create.
    assert MARKER.encode() in open(os.path.join(FIX, fixture), "rb").read()


# ---- damaged zip checkpoints -------------------------------------------------------------

@pytest.fixture
def zsrc(tmp_path):
    dst = tmp_path / "src"
    shutil.copytree(os.path.join(FIX, "zip"), dst)
    return dst


def rewrite_zip(path, edit):
    """Rebuilds the archive with edit(name, data) -> (name, data) or None to drop an entry."""
    with zipfile.ZipFile(path) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries:
            out = edit(name, data)
            if out is not None:
                z.writestr(out[0], out[1])


def test_truncated_zip(weightcast_bin, zsrc, tmp_path):
    path = zsrc / "pytorch_model.bin"
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[: len(raw) // 2])
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), str(path))


def test_corrupt_central_directory(weightcast_bin, zsrc, tmp_path):
    path = zsrc / "pytorch_model.bin"
    raw = bytearray(open(path, "rb").read())
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd:cd + 4] = b"XXXX"
    open(path, "wb").write(raw)
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), "corrupt zip archive: bad central directory entry")


def test_missing_data_pkl(weightcast_bin, zsrc, tmp_path):
    rewrite_zip(zsrc / "pytorch_model.bin", lambda n, d: None if n.endswith("data.pkl") else (n, d))
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), "the zip holds no data.pkl")


def test_storage_key_that_does_not_exist(weightcast_bin, zsrc, tmp_path):
    rewrite_zip(zsrc / "pytorch_model.bin", lambda n, d: None if n.endswith("/data/0") else (n, d))
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), 'storage key "0" does not exist')


def test_storage_smaller_than_the_tensor(weightcast_bin, zsrc, tmp_path):
    rewrite_zip(zsrc / "pytorch_model.bin", lambda n, d: (n, d[:10]) if n.endswith("/data/0") else (n, d))
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), "reaches element", "of a storage of 5")


def test_malformed_pickle(weightcast_bin, zsrc, tmp_path):
    rewrite_zip(zsrc / "pytorch_model.bin", lambda n, d: (n, d[:-40]) if n.endswith("data.pkl") else (n, d))
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), "pickle")


def test_big_endian_is_refused(weightcast_bin, zsrc, tmp_path):
    # torch >= 2.1 records the byte order; the 1.13 fixture has none, so add it.
    with zipfile.ZipFile(zsrc / "pytorch_model.bin", "a", compression=zipfile.ZIP_STORED) as z:
        z.writestr("pytorch_model/byteorder", "big")
    assert_error(convert(weightcast_bin, zsrc, tmp_path / "out"), 'byteorder is "big"', "little-endian")


def test_legacy_file_with_a_lying_length(weightcast_bin, tmp_path):
    src = tmp_path / "legacy"
    shutil.copytree(os.path.join(FIX, "legacy"), src)
    path = src / "pytorch_model.bin"
    raw = bytearray(open(path, "rb").read())
    # The first storage's int64 element count follows the pickled key list (ends with ']q..e.').
    first_count = raw.index(b"e.") + 2
    raw[first_count:first_count + 8] = struct.pack("<q", 1 << 40)
    open(path, "wb").write(raw)
    assert_error(convert(weightcast_bin, src, tmp_path / "out"), "claims 1099511627776 elements, more than the file holds")


def write_zip64(path, entries):
    """A stored zip whose every size and offset lives in ZIP64 fields, with the ZIP64 end
    records, as torch.save writes archives over 4 GiB."""
    out, central = bytearray(), bytearray()
    for name, data in entries:
        offset, n = len(out), name.encode()
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, zipfile.crc32(data) & 0xFFFFFFFF,
                           0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra)) + n + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0,
                               zipfile.crc32(data) & 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(cextra),
                               0, 0, 0, 0, 0xFFFFFFFF) + n + cextra
    cd_offset = len(out)
    out += central
    z64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries), len(central),
                       cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    open(path, "wb").write(bytes(out))


def test_zip64_records_are_read(weightcast_bin, tmp_path):
    src = tmp_path / "z64"
    shutil.copytree(os.path.join(FIX, "zip"), src)
    path = src / "pytorch_model.bin"
    with zipfile.ZipFile(path) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    write_zip64(path, entries)
    with zipfile.ZipFile(path) as z:  # Python's reader agrees it is a valid archive
        assert z.read(entries[0][0]) == entries[0][1]
    run_cli(weightcast_bin, "convert", src, "--quantization", "q4f16_1", "-o", tmp_path / "out")
    run_cli(weightcast_bin, "convert", EXAMPLE, "--quantization", "q4f16_1", "-o", tmp_path / "st")
    assert_same_files(tmp_path / "st", tmp_path / "out")


def test_inspect_lists_safetensors_and_torch_tensors(weightcast_bin):
    st = run_cli(weightcast_bin, "inspect", os.path.join(EXAMPLE, "model.safetensors")).stdout
    assert "safetensors, 21 tensors" in st and "model.layers.1.mlp.down_proj.weight" in st and "bfloat16" in st
    pt = run_cli(weightcast_bin, "inspect", os.path.join(FIX, "special.pt")).stdout
    assert "PyTorch checkpoint, 15 tensors" in pt and "transposed" in pt
    assert "note: Encountered None param, skipping it: none" in pt
    bad = run_cli(weightcast_bin, "inspect", os.path.join(FIX, "malicious-system.pt"), check=False)
    assert bad.returncode == 1 and "refusing global posix.system" in bad.stderr
