"""Shared fixtures. Data tests read ../shared/data (ATOMIC_DATA_DIR) in place, never copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atomic_ops.env import environment

SPOT = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")

# The benchmark market-maker configuration (README, bench/, seed_demo): the one file every test
# that needs "the headline MM config" reads. Shared by the tests: never mutate it.
MM_BENCH_CONFIG_PATH = Path(__file__).resolve().parents[1] / "configs" / "mm_btcusdt_bench.json"
MM_BENCH_CONFIG: dict = json.loads(MM_BENCH_CONFIG_PATH.read_text())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = environment().data_dir
    if not (path / "SOURCES.md").is_file():
        pytest.fail(f"market data not found at {path} (set ATOMIC_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def spot_btc_files(data_dir: Path) -> tuple[Path, ...]:
    return tuple(data_dir / name for name in SPOT)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One converted-data cache per test session (the loaders' cache is tested on its own)."""
    return tmp_path_factory.mktemp("cache")
