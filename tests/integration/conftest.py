from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.integration.harness import Processes, database_url_for, start_simvenue, subprocess_env


@pytest.fixture(scope="module")
def e2e_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for subprocesses: the pytest database (not the dev one) and the real Redis."""
    from django.conf import settings
    from django.db import connection

    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), name
    return subprocess_env(database_url_for(settings.DATABASE_URL, name), settings.ATOMIC_OPS["REDIS_URL"])


@pytest.fixture(scope="module")
def var_dir() -> Path:
    from django.conf import settings

    return Path(settings.ATOMIC_OPS["VAR_DIR"])


@pytest.fixture
def procs(e2e_env, tmp_path):
    processes = Processes(env=e2e_env, logs=tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def node_name(var_dir):
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(var_dir / "nodes" / name, ignore_errors=True)


@pytest.fixture
def venue(procs, spot_btc_files):
    """The simulated venue replaying the 2-day BTCUSDT capture at 20x, looping."""
    return start_simvenue(procs, list(spot_btc_files), speed="20")
