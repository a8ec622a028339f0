"""Shared fixtures. Data tests read ../shared/data (ATOMIC_DATA_DIR) in place, never copies."""

from __future__ import annotations

import itertools
import json
import shutil
import uuid
from pathlib import Path

import pytest

from atomic_ops.env import environment
from tests.integration.harness import Processes, database_url_for, subprocess_env

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


# Console users: one per role, from the real role groups (trading.roles).
_numbers = itertools.count(1)
PASSWORD = "a-long-test-password-9"


@pytest.fixture
def make_user(db, django_user_model):
    """make_user(role or None, username=None) -> a user in that role group (None: no role)."""
    from django.contrib.auth.models import Group

    def make(role: str | None, username: str | None = None, **fields):
        user = django_user_model.objects.create_user(
            username=username or f"{(role or 'norole').replace(' ', '_')}-{next(_numbers)}",
            password=PASSWORD,
            **fields,
        )
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("viewer"))
    return client


# Real subprocesses (venue, node, console) for end-to-end tests: tests/integration/harness.py
@pytest.fixture(scope="module")
def e2e_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for subprocesses: the pytest database (not the dev one) and the real Redis."""
    from django.conf import settings
    from django.db import connection

    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), name
    return subprocess_env(database_url_for(settings.DATABASE_URL, name), settings.ATOMIC_OPS["REDIS_URL"])


@pytest.fixture
def procs(e2e_env, tmp_path):
    processes = Processes(env=e2e_env, logs=tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture(scope="module")
def var_dir() -> Path:
    from django.conf import settings

    return Path(settings.ATOMIC_OPS["VAR_DIR"])


@pytest.fixture
def node_name(var_dir):
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(var_dir / "nodes" / name, ignore_errors=True)
