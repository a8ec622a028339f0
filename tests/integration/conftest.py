from __future__ import annotations

import pytest

from tests.integration.harness import start_simvenue


@pytest.fixture
def venue(procs, spot_btc_files):
    """The simulated venue replaying the 2-day BTCUSDT capture at 20x, looping."""
    return start_simvenue(procs, list(spot_btc_files), speed="20")
