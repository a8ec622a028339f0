from pathlib import Path

import pytest

from atomic_ops import env as env_module
from atomic_ops.env import EnvironmentError_, environment


@pytest.fixture
def fresh_env(monkeypatch):
    environment.cache_clear()
    yield monkeypatch
    environment.cache_clear()


def test_defaults_use_embedded_services(fresh_env):
    for name in ("DATABASE_URL", "REDIS_URL", "ATOMIC_VAR_DIR", "WEB_PORT", "DJANGO_DEBUG"):
        fresh_env.delenv(name, raising=False)
    env = environment()
    assert env.embedded_database and env.embedded_redis
    assert env.var_dir == env_module.PROJECT_ROOT / "var"
    assert env.web_port == 8000
    assert env.debug is None


def test_urls_and_paths_from_the_environment(fresh_env, tmp_path):
    fresh_env.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/x")
    fresh_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    fresh_env.setenv("ATOMIC_VAR_DIR", str(tmp_path / "v"))
    fresh_env.setenv("ALLOWED_HOSTS", " a.example , b.example ,")
    fresh_env.setenv("DJANGO_DEBUG", "off")
    env = environment()
    assert not env.embedded_database and not env.embedded_redis
    assert env.var_dir == Path(tmp_path / "v")
    assert env.allowed_hosts == ("a.example", "b.example")
    assert env.debug is False


@pytest.mark.parametrize("value", ["maybe", "2", "tru"])
def test_bad_boolean_is_refused_with_its_name(fresh_env, value):
    fresh_env.setenv("DJANGO_DEBUG", value)
    with pytest.raises(EnvironmentError_, match="DJANGO_DEBUG"):
        environment()


@pytest.mark.parametrize("value", ["0", "65536", "-1", "80a", ""])
def test_bad_port_is_refused(fresh_env, value):
    fresh_env.setenv("WEB_PORT", value or " ")
    with pytest.raises(EnvironmentError_, match="WEB_PORT"):
        environment()


def test_only_env_module_reads_environment_variables():
    """DESIGN: atomic_ops/env.py is the one place that reads environment variables."""
    root = env_module.PROJECT_ROOT
    offenders = []
    for package in ("atomic_ops", "trading", "dashboards", "hotpath"):
        for path in (root / package).rglob("*.py"):
            if path.name == "env.py" and path.parent.name == "atomic_ops":
                continue
            text = path.read_text()
            for needle in ("os.environ.get(", "os.getenv(", "os.environ["):
                if needle in text:
                    offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []
