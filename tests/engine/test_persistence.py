"""Model files: round trips, atomic writes, and hostile files built for real.

The hostile files are the traps of RELIABILITY.md items 7-9 and 18: a pickled object array whose
unpickling would write a file, a header declaring 10**12 elements, a 400 MB zip bomb, a zip
entry whose declared size lies, truncated and corrupted files, wrong keys, dtypes and shapes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
from helpers.model_files import (
    LAYERS,
    Trap,
    build_zip,
    config_npy,
    make_model,
    npy,
    npy_header,
    patch_central_entry,
    pickled_object_array,
    valid_members,
    with_members,
    write_zip_bomb,
)

from mlp_engine import persistence
from mlp_engine.errors import ModelFormatError
from mlp_engine.persistence import (
    FORMAT_VERSION,
    load_model_file,
    remove_stale_temp_files,
    save_model_file,
    write_atomic,
)

HEADER_ONLY_LIMIT = 2**20  # a rejection must not allocate more than this (tracemalloc peak)


# ----------------------------------------------------------------------------- building files
# The builders live in tests/helpers/model_files.py (shared with tests/reliability).


def expect_rejected(data: bytes | BinaryIO, *fragments: str, **limits: int) -> str:
    """Load ``data``; it must raise ModelFormatError whose message holds every fragment."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with pytest.raises(ModelFormatError) as info:
        load_model_file(source, **limits)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak traced allocation (Python and numpy) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_through_a_path_is_exact(tmp_path: Path, dtype: type) -> None:
    weights, biases = make_model(dtype=dtype)
    config = {"activation": "relu", "classes": ["a", "b"], "history": [{"loss": 0.5}]}
    path = tmp_path / "model.npz"
    save_model_file(path, weights, biases, config)
    w2, b2, c2 = load_model_file(path)
    for original, loaded in zip(weights + biases, w2 + b2, strict=True):
        assert loaded.dtype == np.dtype(dtype)
        assert loaded.shape == original.shape
        assert loaded.tobytes() == original.tobytes()
        assert loaded.flags.c_contiguous and loaded.flags.writeable
    assert c2 == {**config, "layers": list(LAYERS)}
    assert "format_version" not in c2
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_round_trip_through_file_objects() -> None:
    weights, biases = make_model()
    buf = io.BytesIO()
    save_model_file(buf, weights, biases, {"layers": LAYERS})
    buf.seek(0)
    w2, b2, config = load_model_file(buf)
    assert all(np.array_equal(a, b) for a, b in zip(weights + biases, w2 + b2, strict=True))
    assert config == {"layers": list(LAYERS)}


def test_files_are_deterministic_and_readable_by_numpy(tmp_path: Path) -> None:
    weights, biases = make_model()
    save_model_file(tmp_path / "a.npz", weights, biases, {"k": 1})
    save_model_file(tmp_path / "b.npz", weights, biases, {"k": 1})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["W0", "W1", "W2", "b0", "b1", "b2", "config"]
        assert np.array_equal(npz["W1"], weights[1])
        doc = json.loads(npz["config"].tobytes())
    assert doc == {"k": 1, "layers": list(LAYERS), "format_version": FORMAT_VERSION}
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_config_numpy_values_are_converted() -> None:
    weights, biases = make_model()
    config = {"lr": np.float32(0.5), "epochs": np.int64(3), "mean": np.array([1.5, 2.0])}
    buf = io.BytesIO()
    save_model_file(buf, weights, biases, config)
    _, _, loaded = load_model_file(io.BytesIO(buf.getvalue()))
    assert loaded == {"lr": 0.5, "epochs": 3, "mean": [1.5, 2.0], "layers": list(LAYERS)}


def test_deflated_files_from_numpy_savez_compressed_load() -> None:
    weights, biases = make_model()
    buf = io.BytesIO()
    members = {f"W{i}": w for i, w in enumerate(weights)} | {
        f"b{i}": b for i, b in enumerate(biases)
    }
    cfg = np.frombuffer(json.dumps({"layers": list(LAYERS), "format_version": 1}).encode(), "u1")
    savez: Any = np.savez_compressed  # numpy's stubs do not type **arrays next to flags
    savez(buf, config=cfg, **members)
    w2, _, _ = load_model_file(io.BytesIO(buf.getvalue()))
    assert np.array_equal(w2[0], weights[0])


def test_big_endian_and_fortran_order_members_load_as_native_c_order() -> None:
    weights, _ = make_model()
    big = weights[1].astype(">f8")
    fortran = np.asfortranarray(weights[0])
    data = with_members(W0=npy(fortran), W1=npy(big))
    w2, _, _ = load_model_file(io.BytesIO(data))
    assert w2[0].flags.c_contiguous and np.array_equal(w2[0], weights[0])
    assert w2[1].dtype == np.float64 and w2[1].dtype.isnative
    assert np.array_equal(w2[1], weights[1])


# ------------------------------------------------------------------------------ save refusals


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda w, b: (w, b[:-1]), "one bias vector per weight"),
        (lambda w, b: ([w[0], w[1].T, w[2]], b), "do not chain"),
        (lambda w, b: (w, [b[0], b[1][:2], b[2]]), "b1 has shape"),
        (lambda w, b: ([w[0].astype(np.int64), *w[1:]], b), "W0 has dtype int64"),
        (
            lambda w, b: ([w[0].astype(np.float32), *w[1:]], b),
            "b0 has dtype float64 but W0 has float32",
        ),
        (lambda w, b: ([w[0], w[1], w[2] * np.nan], b), "W2 contains non-finite"),
        (lambda w, b: ([], []), "at least one layer"),
    ],
)
def test_save_refuses_inconsistent_arrays_and_writes_nothing(
    tmp_path: Path, change: Callable[..., Any], fragment: str
) -> None:
    weights, biases = change(*make_model())
    with pytest.raises(ModelFormatError, match=fragment):
        save_model_file(tmp_path / "m.npz", weights, biases, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"loss": float("nan")}, "JSON"),
        ({"f": object()}, "JSON"),
        ({"label": "\ud800"}, "JSON"),
        ({"layers": [2, 5, 1]}, "config key 'layers'"),
        ({"blob": "x" * (persistence.MAX_CONFIG_BYTES + 1)}, "above the limit"),
    ],
)
def test_save_refuses_bad_configs(tmp_path: Path, config: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ModelFormatError, match=fragment):
        save_model_file(tmp_path / "m.npz", *make_model(), config)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- atomic writing


def test_write_atomic_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old contents")

    def failing(fp: BinaryIO) -> None:
        fp.write(b"partial new contents")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomic(target, failing)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]

    def interrupted(fp: BinaryIO) -> None:
        fp.write(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_save_failure_inside_the_write_keeps_the_old_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.npz"
    save_model_file(target, *make_model(seed=1), {})
    before = target.read_bytes()

    def broken_write_array(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", broken_write_array)
    with pytest.raises(OSError, match="No space left"):
        save_model_file(target, *make_model(seed=2), {})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_write_atomic_syncs_file_then_renames_then_syncs_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        assert Path(src).name.startswith(".tmp-") and Path(src).parent == tmp_path
        events.append("replace")
        real_replace(src, dst)

    def write(fp: BinaryIO) -> None:
        fp.write(b"new")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomic(tmp_path / "f.bin", write)
    assert events == ["fsync-file", "replace", "fsync-dir"]
    assert (tmp_path / "f.bin").read_bytes() == b"new"


def test_remove_stale_temp_files(tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc123").write_bytes(b"half a model")
    (tmp_path / ".tmp-older").write_bytes(b"x")
    (tmp_path / ".tmp-a-directory").mkdir()
    (tmp_path / "model.npz").write_bytes(b"keep")
    (tmp_path / "tmp-not-ours").write_bytes(b"keep")
    old = time.time() - 3600
    os.utime(tmp_path / ".tmp-older", (old, old))

    assert remove_stale_temp_files(tmp_path, min_age_seconds=60) == [tmp_path / ".tmp-older"]
    # Fresher than the creation grace (its writer may not have locked it yet): spared. Dated
    # ahead, as a stalled test could pass the 0.25 s grace between the write and this call.
    ahead = time.time() + 3600
    os.utime(tmp_path / ".tmp-abc123", (ahead, ahead))
    assert remove_stale_temp_files(tmp_path) == []
    os.utime(tmp_path / ".tmp-abc123")  # now: no longer younger than a grace of 0
    assert remove_stale_temp_files(tmp_path, min_age_seconds=0) == [tmp_path / ".tmp-abc123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".tmp-a-directory",
        "model.npz",
        "tmp-not-ours",
    ]
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_a_temp_file_a_live_writer_holds_is_never_removed(tmp_path: Path) -> None:
    """Several processes share a data dir: one starting up must not delete another's in-flight
    temp file. write_atomic locks its temp file while writing; the lock dies with the writer."""
    seen: list[list[Path]] = []

    def write(fp: BinaryIO) -> None:
        fp.write(b"half")
        old = time.time() - 3600  # old enough for any age rule: only the lock protects it
        os.utime(fp.fileno(), (old, old))
        seen.append(remove_stale_temp_files(tmp_path, min_age_seconds=0))
        fp.write(b" and the rest")

    write_atomic(tmp_path / "f.bin", write)
    assert seen == [[]]
    assert (tmp_path / "f.bin").read_bytes() == b"half and the rest"


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from mlp_engine.persistence import save_model_file
    rng = np.random.default_rng(0)
    layers = (64, 512, 512, 4)
    weights = [rng.normal(size=(a, b)) for a, b in zip(layers, layers[1:])]
    biases = [rng.normal(size=b) for b in layers[1:]]
    print("ready", flush=True)
    i = 0
    while True:
        weights[0][0, 0] = i
        save_model_file(sys.argv[1], weights, biases, {"i": i})
        i += 1
    """
)


@pytest.mark.slow
def test_kill_9_during_writes_never_leaves_a_broken_model(tmp_path: Path) -> None:
    """A child saves models in a tight loop and is SIGKILLed at random moments (most kills land
    mid-write, leaving a .tmp- file): the model present always loads and is self-consistent."""
    target = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(float(rng.uniform(0.05, 0.4)))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        if target.exists():
            weights, _, config = load_model_file(target)
            assert weights[0][0, 0] == config["i"]
        remove_stale_temp_files(tmp_path, min_age_seconds=0)  # the writer is dead: no lock
        assert [p.name for p in tmp_path.iterdir()] in ([], ["model.npz"])
    assert target.exists()


# --------------------------------------------------------------------- hostile: pickles


def test_the_pickle_trap_is_armed(tmp_path: Path) -> None:
    """Control: numpy with allow_pickle=True does run the payload of the file used below."""
    sentinel = tmp_path / "armed"
    data = with_members(W0=pickled_object_array(sentinel, (2, 5)))
    with np.load(io.BytesIO(data), allow_pickle=True) as npz:
        npz["W0"]
    assert sentinel.exists()


@pytest.mark.parametrize("member", ["W0", "b2", "config"])
def test_pickled_object_arrays_are_rejected_and_never_unpickled(
    tmp_path: Path, member: str
) -> None:
    sentinel = tmp_path / "pwned"
    shape = {"W0": (2, 5), "b2": (1,), "config": (10,)}[member]
    data = with_members(**{member: pickled_object_array(sentinel, shape)})
    path = tmp_path / "evil.npz"
    path.write_bytes(data)
    message = expect_rejected(path.open("rb"), repr(member), "object")
    assert str(tmp_path) not in message
    with pytest.raises(ModelFormatError):
        load_model_file(path)
    assert not sentinel.exists()


def test_a_bare_pickle_file_is_rejected(tmp_path: Path) -> None:
    import pickle

    sentinel = tmp_path / "pwned"
    expect_rejected(pickle.dumps(Trap(sentinel)), "not a zip archive")
    assert not sentinel.exists()


# --------------------------------------------------------- hostile: huge declared shapes


def test_header_declaring_10_to_the_12_elements_is_rejected_before_allocating() -> None:
    huge = (10**6, 10**6)
    members = valid_members()
    members["config.npy"] = config_npy({"layers": [10**6, 10**6], "format_version": 1})
    members = {"config.npy": members["config.npy"]}
    members["W0.npy"] = npy_header("<f8", huge) + b"\0" * 64
    members["b0.npy"] = npy_header("<f8", (10**6,)) + b"\0" * 64
    data = build_zip(members)

    def load() -> None:
        expect_rejected(data, "'W0'", "8000000000000 bytes")

    assert peak_bytes(load) < HEADER_ONLY_LIMIT


def test_huge_header_not_matching_config_is_rejected_by_shape() -> None:
    data = with_members(W1=npy_header("<f8", (10**6, 10**6)))
    assert peak_bytes(lambda: expect_rejected(data, "'W1'", "shape")) < HEADER_ONLY_LIMIT


def test_config_header_declaring_a_terabyte_is_rejected() -> None:
    data = with_members(config=npy_header("|u1", (10**12,)) + b"{}")
    assert peak_bytes(lambda: expect_rejected(data, "'config'", "limit")) < HEADER_ONLY_LIMIT


def test_version_2_header_declaring_a_4_gb_header_is_rejected_before_reading_it() -> None:
    evil = np.lib.format.magic(2, 0) + struct.pack("<I", 0xFFFFFFF0) + b"{"
    data = with_members(W0=evil)
    assert peak_bytes(lambda: expect_rejected(data, "'W0'", "header")) < HEADER_ONLY_LIMIT


# ------------------------------------------------------------------- hostile: zip bombs


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """~400 KB on disk, 400 MB once inflated (see ``write_zip_bomb``)."""
    data = write_zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz")
    assert len(data) < 2**20
    return data


def bomb_header_size() -> int:
    return len(npy_header("<f8", (1, 2)))


class CountingReader(io.BytesIO):
    """A file object that counts the bytes read from it: the loader's work, deterministically."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self.bytes_read += n
        return n


def bytes_read_by(data: bytes, action: Callable[[BinaryIO], object]) -> int:
    """How many bytes of ``data`` the loader read while ``action`` ran on it."""
    source = CountingReader(data)
    action(source)
    return source.bytes_read


def test_zip_bomb_is_rejected_without_inflating_it(zip_bomb: bytes) -> None:
    """Inflating the 400 MB would read all of its ~400 KB deflated stream; the loader stops at
    the header, having read the end records, the directory and a few KB of W0."""
    read: list[int] = []
    peak = peak_bytes(
        lambda: read.append(
            bytes_read_by(zip_bomb, lambda f: expect_rejected(f, "'W0'", "declares 16 bytes"))
        )
    )
    assert read[0] < len(zip_bomb) // 4
    assert peak < HEADER_ONLY_LIMIT


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        ({"max_member_bytes": 64 * 2**20}, "above the limit of 67108864"),
        ({"max_total_bytes": 100 * 2**20}, "in total"),
    ],
)
def test_zip_bomb_is_rejected_by_declared_size_limits(
    zip_bomb: bytes, limits: dict[str, int], fragment: str
) -> None:
    peak = peak_bytes(lambda: expect_rejected(zip_bomb, fragment, **limits))
    assert peak < HEADER_ONLY_LIMIT


def test_zip_entry_declaring_a_smaller_size_than_its_data_is_caught(zip_bomb: bytes) -> None:
    """The entry says 144 bytes, the deflated stream holds 400 MB: reads stop at 144."""
    lying = patch_central_entry(zip_bomb, "W0.npy", file_size=bomb_header_size() + 16)
    read: list[int] = []
    peak = peak_bytes(
        lambda: read.append(bytes_read_by(lying, lambda f: expect_rejected(f, "CRC")))
    )
    assert read[0] < len(lying) // 4
    assert peak < HEADER_ONLY_LIMIT


def test_a_consistent_liar_only_ever_expands_the_declared_bytes(zip_bomb: bytes) -> None:
    """With the CRC forged for the declared prefix too, the file is a valid tiny model."""
    prefix = npy_header("<f8", (1, 2)) + bytes(16)
    liar = patch_central_entry(zip_bomb, "W0.npy", file_size=len(prefix), crc=zlib.crc32(prefix))
    result: list[Any] = []
    read = bytes_read_by(liar, lambda f: result.append(load_model_file(f)))
    assert read < len(liar) // 4
    assert peak_bytes(lambda: load_model_file(io.BytesIO(liar))) < HEADER_ONLY_LIMIT
    weights, _, _ = result[0]
    assert weights[0].shape == (1, 2) and not weights[0].any()


def test_zip_entry_declaring_more_data_than_it_holds_is_truncated() -> None:
    members = valid_members((1, 2))
    short = npy_header("<f8", (1, 2)) + bytes(8)  # 8 of the 16 data bytes
    members["W0.npy"] = short
    data = build_zip(members, compression=zipfile.ZIP_DEFLATED)
    expect_rejected(patch_central_entry(data, "W0.npy", file_size=len(short) + 8), "truncated")


_RSS_PROBE = textwrap.dedent(
    """
    import io, resource, sys
    from mlp_engine.persistence import load_model_file
    from mlp_engine.errors import ModelFormatError
    files = [open(p, "rb").read() for p in sys.argv[1:]]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for data in files:
        try:
            load_model_file(io.BytesIO(data))
        except ModelFormatError:
            pass
        else:
            raise SystemExit("a hostile file loaded")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_peak_rss_stays_flat_on_hostile_files(tmp_path: Path, zip_bomb: bytes) -> None:
    hostile = {
        "bomb": zip_bomb,
        "lying": patch_central_entry(zip_bomb, "W0.npy", file_size=bomb_header_size() + 16),
        "huge": with_members(W1=npy_header("<f8", (10**6, 10**6))),
    }
    paths = []
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, *paths],
        capture_output=True,
        check=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert int(out.stdout) < 32 * 2**20, out.stdout


def test_central_directory_with_thousands_of_entries_is_refused_before_parsing() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(7000):  # a model file has at most 6145 (weights, biases, a 1024-column plan)
            zf.writestr(f"W{i}.npy", b"")
    expect_rejected(buf.getvalue(), "7000 members")


# ----------------------------------------------------------- hostile: not zips, truncation


@pytest.fixture(scope="module")
def good_file() -> bytes:
    buf = io.BytesIO()
    save_model_file(buf, *make_model(), {"activation": "relu"})
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not a zip archive"),
        (b"PK", "not a zip archive"),
        (b"this is not a zip file at all, just text" * 10, "not a zip archive"),
        (npy(np.zeros((2, 5))), "not a zip archive"),
    ],
)
def test_not_a_zip(data: bytes, fragment: str) -> None:
    expect_rejected(data, fragment)


def test_truncated_in_half(tmp_path: Path, good_file: bytes) -> None:
    path = tmp_path / "half.npz"
    path.write_bytes(good_file[: len(good_file) // 2])
    with pytest.raises(ModelFormatError) as info:
        load_model_file(path)
    assert str(tmp_path) not in str(info.value)


def test_every_truncation_point_is_a_model_format_error(good_file: bytes) -> None:
    for cut in range(0, len(good_file) - 1, 3):
        with pytest.raises(ModelFormatError):
            load_model_file(io.BytesIO(good_file[:cut]))


def test_single_byte_corruptions_never_escape_as_other_errors(good_file: bytes) -> None:
    rng = np.random.default_rng(0)
    for pos in range(len(good_file)):
        corrupt = bytearray(good_file)
        corrupt[pos] ^= int(rng.integers(1, 256))
        try:
            weights, biases, config = load_model_file(io.BytesIO(bytes(corrupt)))
        except ModelFormatError:
            continue
        # Some bytes (e.g. a zip timestamp) do not matter; what loads must still be valid.
        assert [w.shape[0] for w in weights] + [weights[-1].shape[1]] == config["layers"]
        assert all(np.isfinite(a).all() for a in weights + biases)


def test_a_missing_file_is_an_os_error_not_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_model_file(tmp_path / "missing.npz")


# ------------------------------------------------------ hostile: keys, dtypes, shapes, config


@pytest.mark.parametrize(
    ("replace", "fragments"),
    [
        ({"W1": None}, ["missing member 'W1'"]),
        ({"b2": None}, ["missing member 'b2'"]),
        ({"config": None}, ["missing member 'config'"]),
        ({"W3": npy(np.zeros((1, 1)))}, ["unexpected member 'W3'"]),
        ({"b7": npy(np.zeros(1))}, ["unexpected member 'b7'"]),
        ({"evil": npy(np.zeros(1))}, ["unexpected member 'evil.npy'"]),
        ({"../../etc/passwd": b""}, ["unexpected member"]),
        ({"W01": npy(np.zeros(1))}, ["unexpected member 'W01.npy'"]),
    ],
)
def test_wrong_keys(replace: dict[str, bytes | None], fragments: list[str]) -> None:
    expect_rejected(with_members(**replace), *fragments)


def test_duplicate_members_are_rejected() -> None:
    members = valid_members()
    data = build_zip(members)
    buf = io.BytesIO(data)
    with pytest.warns(UserWarning), zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("W0.npy", npy(np.zeros((2, 5))))
    expect_rejected(buf.getvalue(), "duplicate member 'W0'")


@pytest.mark.parametrize(
    ("member", "arr", "fragment"),
    [
        ("W0", np.zeros((2, 5), dtype=np.int64), "dtype int64"),
        ("W0", np.zeros((2, 5), dtype=np.complex128), "dtype complex128"),
        ("b1", np.zeros(3, dtype=np.float16), "dtype float16"),
        ("W2", np.zeros((3, 1), dtype=np.longdouble), "dtype float128"),
        ("W1", np.zeros((5, 3), dtype=[("a", "<f8")]), "structured"),
        ("b0", np.zeros(5, dtype=np.float32), "'b0' has dtype float32 but W0 has float64"),
        ("config", np.zeros(10, dtype=np.float64), "expected uint8"),
        ("W1", np.zeros((5, 3), dtype="<U1"), "dtype <U1"),
    ],
)
def test_wrong_dtypes(member: str, arr: np.ndarray, fragment: str) -> None:
    if arr.dtype == np.longdouble and np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("long double is float64 on this platform")
    expect_rejected(with_members(**{member: npy(arr)}), f"'{member}'", fragment)


@pytest.mark.parametrize(
    ("member", "arr"),
    [
        ("W1", np.zeros((4, 3))),  # 5 -> 3 expected: does not chain with W0 (2, 5)
        ("W1", np.zeros((3, 5))),
        ("W2", np.zeros(3)),
        ("b1", np.zeros(5)),
        ("b0", np.zeros((5, 1))),
        ("b2", np.zeros(())),
    ],
)
def test_layer_shapes_that_do_not_chain(member: str, arr: np.ndarray) -> None:
    expect_rejected(with_members(**{member: npy(arr)}), f"'{member}'", "shape", "expected")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(bad: float) -> None:
    weights, _ = make_model()
    weights[1][2, 1] = bad
    expect_rejected(with_members(W1=npy(weights[1])), "'W1'", "non-finite")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (config_npy(raw=b"\xff\xfe not utf-8"), "UTF-8"),
        (config_npy(raw=b"{not json"), "not valid JSON"),
        (config_npy(raw=b"[1, 2]"), "JSON object"),
        (config_npy(raw=b'{"layers": [2, 5, 3, 1], "format_version": NaN}'), "JSON"),
        (config_npy(raw=b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
        (config_npy({"layers": list(LAYERS)}), "'format_version' is missing"),
        (config_npy(format_version=2), "newer"),
        (config_npy(format_version=0), "reads version 1"),
        (config_npy(format_version="1"), "must be an integer"),
        (config_npy(format_version=True), "must be an integer"),
        (config_npy({"format_version": 1}), "'layers'"),
        (config_npy({"format_version": 1, "layers": "2,5,3,1"}), "'layers'"),
        (config_npy({"format_version": 1, "layers": [2]}), "'layers'"),
        (config_npy({"format_version": 1, "layers": [2, 0, 3, 1]}), "'layers'[1]"),
        (config_npy({"format_version": 1, "layers": [2, 5.0, 3, 1]}), "'layers'[1]"),
        (config_npy({"format_version": 1, "layers": [2, 5, True, 1]}), "'layers'[2]"),
        (config_npy({"format_version": 1, "layers": [2, 5, 3]}), "unexpected member 'W2'"),
        (config_npy({"format_version": 1, "layers": [2, 5, 3, 1, 1]}), "missing member 'W3'"),
        (npy(np.zeros((2, 2), dtype=np.uint8)), "must be 1-D"),
    ],
)
def test_bad_configs(config: bytes, fragment: str) -> None:
    expect_rejected(with_members(config=config), fragment)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "bad magic"),
        (b"\x93NUMPY", "bad magic"),
        (bytes(1000), "bad magic"),
        (np.lib.format.magic(3, 0) + b"\x00" * 8, "unsupported .npy version"),
        (np.lib.format.magic(1, 0) + b"\x10", "truncated"),
        (np.lib.format.magic(1, 0) + b"\x20\x00{'descr': '<f8', 'fortran_order':", "header"),
        (np.lib.format.magic(1, 0) + b"\x0a\x00__import__", "invalid .npy header"),
        (npy_header("<f8", (2, 5)) + bytes(8 * 10 + 1), "holds 81"),
        (npy_header("<f8", (2, 5)) + bytes(8 * 9), "holds 72"),
    ],
)
def test_malformed_npy_members(data: bytes, fragment: str) -> None:
    expect_rejected(with_members(W0=data), "'W0'", fragment)


def test_encrypted_or_exotic_compression_is_rejected() -> None:
    members = valid_members()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            method = zipfile.ZIP_BZIP2 if name == "W1.npy" else zipfile.ZIP_STORED
            zf.writestr(name, data, compress_type=method)
    expect_rejected(buf.getvalue(), "'W1'", "compression")


def test_messages_never_contain_the_file_path(tmp_path: Path) -> None:
    cases = {
        "empty": b"",
        "half": with_members()[:300],
        "keys": with_members(W9=npy(np.zeros(1))),
        "dtype": with_members(W0=npy(np.zeros((2, 5), dtype=np.int64))),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(data)
        with pytest.raises(ModelFormatError) as info:
            load_model_file(path)
        assert str(tmp_path) not in str(info.value)
        assert f"{name}.npz" not in str(info.value)


def test_limits_are_validated() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_member_bytes"):
            load_model_file(io.BytesIO(b""), max_member_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_total_bytes"):
        load_model_file(io.BytesIO(b""), max_total_bytes=0)


def test_model_format_error_is_a_value_error() -> None:
    assert issubclass(ModelFormatError, ValueError)
