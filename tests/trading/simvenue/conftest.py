"""Fixtures of the simulated-venue tests: slices of the real captures (lines copied unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trading.simvenue.helpers import write_slice


@pytest.fixture(scope="session")
def slice_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("captures")


@pytest.fixture(scope="session")
def btc_day(spot_btc_files) -> Path:
    return spot_btc_files[0]


@pytest.fixture(scope="session")
def btc_head(slice_dir, btc_day) -> Path:
    """The first 3000 lines of BTCUSDT 2024-08-08: the depth snapshot is line 8."""
    return write_slice(slice_dir, btc_day, 3000)


@pytest.fixture(scope="session")
def btc_short(slice_dir, btc_day) -> Path:
    """The first 1500 lines: short enough to loop many times in a test."""
    return write_slice(slice_dir, btc_day, 1500)
