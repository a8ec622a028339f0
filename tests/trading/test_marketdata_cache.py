"""Event cache: build, hit, invalidation by content, corruption recovery, read-only sources, opt-out."""

import json
import os
import re
import shutil
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from trading.marketdata import LOADER_VERSION, load_events
from trading.marketdata.cache import entry_paths
from trading.marketdata.kinds import EV_DEPTH

SPOT = Path("/work/shared/data/hftbacktest/spot")
SPOT_BTC = [SPOT / "btcusdt_20240808.gz", SPOT / "btcusdt_20240809.gz"]
DUMP = Path("/work/shared/data/market_maker/bitmex_ws_orderBookL2_25_XBTUSD_2025-10-16.jsonl")

pytestmark = pytest.mark.skipif(
    not SPOT.is_dir() or not DUMP.is_file(), reason="shared market data not mounted"
)


def cache_files(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def only_npy(cache_dir: Path) -> Path:
    (npy,) = [p for p in cache_dir.iterdir() if p.suffix == ".npy"]
    return npy


@pytest.fixture(scope="module")
def spot_cache(tmp_path_factory):
    """Cold build of the 2-day BTCUSDT spot set, then a warm load."""
    cache_dir = tmp_path_factory.mktemp("cache")
    started = time.perf_counter()
    cold = load_events(SPOT_BTC, "BTCUSDT", cache_dir=cache_dir)
    cold_seconds = time.perf_counter() - started
    npy = only_npy(cache_dir)
    stat_before = npy.stat()
    started = time.perf_counter()
    warm = load_events(SPOT_BTC, "BTCUSDT", cache_dir=cache_dir)
    warm_seconds = time.perf_counter() - started
    return cache_dir, cold, warm, cold_seconds, warm_seconds, stat_before


def test_first_load_builds_the_cache_second_load_hits_it(spot_cache):
    cache_dir, cold, warm, cold_seconds, warm_seconds, stat_before = spot_cache
    assert (cold.cache_hit, cold.report.cache_hit) == (False, False)
    assert (warm.cache_hit, warm.report.cache_hit) == (True, True)
    npy = only_npy(cache_dir)
    assert cold.cache_path == warm.cache_path == npy
    assert cache_files(cache_dir) == sorted([npy.name, npy.with_suffix(".json").name])  # no temp files left
    stat_after = npy.stat()
    assert (stat_after.st_mtime_ns, stat_after.st_ino) == (stat_before.st_mtime_ns, stat_before.st_ino)
    assert warm.events.tobytes() == cold.events.tobytes()
    assert warm.events.dtype == cold.events.dtype and warm.events.flags.c_contiguous
    assert (warm.format, warm.market, warm.instrument) == (cold.format, cold.market, cold.instrument)
    # the report (with its book checks) comes back from the cache, not from a new conversion
    cold_report = dict(cold.report.to_dict(), cache_hit=True)
    assert warm.report.to_dict() == cold_report
    assert warm.report.bbo_checked == 1_072 and warm.report.depth_levels == 298_094
    assert "[cache hit]" in warm.report.summary()
    # milliseconds, not a conversion: generous bound for a loaded CI machine
    assert warm_seconds < 0.5 < cold_seconds


def test_metadata_describes_the_entry(spot_cache):
    cache_dir, cold, *_ = spot_cache
    meta = json.loads(only_npy(cache_dir).with_suffix(".json").read_text())
    assert meta["loader_version"] == LOADER_VERSION
    assert meta["count"] == len(cold.events) == 466_347
    assert meta["npy_bytes"] == only_npy(cache_dir).stat().st_size
    assert meta["instrument"] == cold.instrument.to_json()
    assert meta["report"]["events"] == 466_347 and meta["crc32"] == zlib.crc32(cold.events.tobytes())


@pytest.fixture()
def small_source(tmp_path) -> Path:
    source = tmp_path / "src" / DUMP.name
    source.parent.mkdir()
    shutil.copyfile(DUMP, source)
    return source


def test_changed_source_content_gets_a_new_key(tmp_path, small_source):
    cache_dir = tmp_path / "cache"
    first = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    with open(small_source, "ab") as handle:  # one more (valid, non-book) line changes the content
        handle.write(b'{"info":"appended"}\n')
    second = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    assert not second.cache_hit and second.cache_path != first.cache_path
    assert len([n for n in cache_files(cache_dir) if n.endswith(".npy")]) == 2
    assert second.report.skipped["non_table_message"] == first.report.skipped["non_table_message"] + 1
    # same content under another name: content-addressed, so a hit (reporting the new name)
    renamed = small_source.with_name("renamed.jsonl")
    shutil.copyfile(small_source, renamed)
    third = load_events([renamed], "XBTUSD", cache_dir=cache_dir)
    assert third.cache_hit and third.cache_path == second.cache_path and third.report.files == [str(renamed)]


def test_symbol_instrument_index_and_order_are_part_of_the_key(tmp_path, small_source):
    cache_dir = tmp_path / "cache"
    plain = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    indexed = load_events([small_source], "XBTUSD", cache_dir=cache_dir, instrument_index=3)
    assert not indexed.cache_hit and indexed.cache_path != plain.cache_path
    assert (indexed.events["instrument"] == 3).all() and (plain.events["instrument"] == 0).all()
    assert load_events([small_source], "XBTUSD", cache_dir=cache_dir, instrument_index=3).cache_hit


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("truncate_npy", "array file size differs"),
        ("flip_npy_byte", "array content differs from its checksum"),
        ("garble_npy_header", "array"),
        ("delete_npy", "array file missing"),
        ("garble_json", "unreadable metadata"),
        ("wrong_count", "array file size differs|dtype or shape"),
        ("foreign_version", "metadata does not match"),
    ],
)
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, small_source, damage, reason):
    cache_dir = tmp_path / "cache"
    good = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    npy = good.cache_path
    meta_path = npy.with_suffix(".json")
    raw = npy.read_bytes()
    if damage == "truncate_npy":
        npy.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip_npy_byte":
        middle = len(raw) - 1000
        npy.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :])
    elif damage == "garble_npy_header":
        npy.write_bytes(b"\x00" * 16 + raw[16:])
    elif damage == "delete_npy":
        npy.unlink()
    elif damage == "garble_json":
        meta_path.write_bytes(b'{"key": ')
    else:
        meta = json.loads(meta_path.read_text())
        if damage == "wrong_count":
            meta["count"] += 1
        else:
            meta["loader_version"] = "marketdata-0"
        meta_path.write_text(json.dumps(meta))
    rebuilt = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    assert not rebuilt.cache_hit
    assert any(note.startswith("cache entry was unusable") for note in rebuilt.report.notes)
    assert re.search(reason, " ".join(rebuilt.report.notes))
    assert rebuilt.events.tobytes() == good.events.tobytes()
    again = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    assert again.cache_hit and again.events.tobytes() == good.events.tobytes()


def test_read_only_source_directory(tmp_path, small_source):
    source_dir = small_source.parent
    before = sorted(os.listdir(source_dir))
    small_source.chmod(0o444)
    source_dir.chmod(0o555)
    try:
        loaded = load_events([small_source], "XBTUSD", cache_dir=tmp_path / "cache")
        assert loaded.report.depth_levels == 2_878 and not loaded.cache_hit
        assert load_events([small_source], "XBTUSD", cache_dir=tmp_path / "cache").cache_hit
        assert sorted(os.listdir(source_dir)) == before  # nothing written next to the data
    finally:
        source_dir.chmod(0o755)


def test_unwritable_cache_directory_still_loads(tmp_path, small_source):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    loaded = load_events([small_source], "XBTUSD", cache_dir=blocker / "cache")
    assert loaded.report.depth_levels == 2_878 and loaded.cache_path is None
    assert any(note.startswith("cache not written") for note in loaded.report.notes)


def test_cache_dir_none_writes_nothing(tmp_path, small_source, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default cache_dir is relative: prove it is not used
    loaded = load_events([small_source], "XBTUSD", cache_dir=None)
    assert (loaded.cache_hit, loaded.cache_path) == (False, None)
    assert not (tmp_path / "var").exists()
    assert loaded.report.depth_levels == 2_878


def test_default_cache_dir_is_var_cache(tmp_path, small_source, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load_events([small_source], "XBTUSD")
    assert loaded.cache_path is not None and loaded.cache_path.parent == Path("var/cache")
    assert (tmp_path / "var" / "cache" / loaded.cache_path.name).is_file()


def test_unvalidated_entry_is_validated_on_a_later_validating_hit(tmp_path, small_source):
    cache_dir = tmp_path / "cache"
    quick = load_events([small_source], "XBTUSD", cache_dir=cache_dir, validate=False)
    assert not quick.report.validated
    checked = load_events([small_source], "XBTUSD", cache_dir=cache_dir)
    assert checked.cache_hit and checked.report.validated and checked.report.crossed_after_sync == 0
    meta = json.loads(checked.cache_path.with_suffix(".json").read_text())
    assert meta["report"]["validated"] is True and meta["report"]["cache_hit"] is False


def test_entry_paths_are_named_by_symbol_and_key(tmp_path):
    npy, meta = entry_paths(tmp_path, "btcusdt", "ab" * 32)
    assert (npy.name, meta.name) == ("BTCUSDT-" + "ab" * 20 + ".npy", "BTCUSDT-" + "ab" * 20 + ".json")


def test_cached_events_feed_numpy_directly(spot_cache):
    _, _, warm, *_ = spot_cache
    depth = warm.events[warm.events["kind"] == EV_DEPTH]
    assert int(depth["qty"].sum()) > 0 and np.all(depth["price"] > 0)
