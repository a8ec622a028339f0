"""The one place that reads environment variables.

Everything else asks `environment()` for typed values. With no DATABASE_URL / REDIS_URL the
project uses its embedded PostgreSQL and Redis under VAR_DIR (see atomic_ops.services): the
URLs below point at their unix sockets, so the code path is the same as with real servers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class EnvironmentError_(ValueError):
    """A variable is set to something unusable."""


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise EnvironmentError_(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def _path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default


@dataclass(frozen=True)
class Environment:
    settings_module: str
    database_url: str | None  # None: embedded PostgreSQL under var_dir
    redis_url: str | None  # None: embedded Redis under var_dir
    secret_key: str | None
    debug: bool | None  # None: the settings profile decides
    allowed_hosts: tuple[str, ...]
    csrf_trusted_origins: tuple[str, ...]
    var_dir: Path
    data_dir: Path  # recorded market data (../shared/data by default)
    web_port: int
    log_level: str
    venue_api_key: str | None  # venue credentials for nodes, when not in the node document
    venue_hmac_secret: str | None
    venue_ed25519_key_file: str | None

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None


@lru_cache(maxsize=1)
def environment() -> Environment:
    port_raw = os.environ.get("WEB_PORT", "8000")
    if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
        raise EnvironmentError_(f"WEB_PORT={port_raw!r} is not a TCP port number")
    debug_raw = os.environ.get("DJANGO_DEBUG")
    hosts = tuple(h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip())
    origins = tuple(o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip())
    return Environment(
        settings_module=os.environ.get("DJANGO_SETTINGS_MODULE", "atomic_ops.settings.local"),
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=os.environ.get("DJANGO_SECRET_KEY") or None,
        debug=None if debug_raw in (None, "") else _flag("DJANGO_DEBUG", False),
        allowed_hosts=hosts,
        csrf_trusted_origins=origins,
        var_dir=_path("ATOMIC_VAR_DIR", PROJECT_ROOT / "var"),
        data_dir=_path("ATOMIC_DATA_DIR", (PROJECT_ROOT.parent / "shared" / "data").resolve()),
        web_port=int(port_raw),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        venue_api_key=os.environ.get("ATOMIC_VENUE_API_KEY") or None,
        venue_hmac_secret=os.environ.get("ATOMIC_VENUE_HMAC_SECRET") or None,
        venue_ed25519_key_file=os.environ.get("ATOMIC_VENUE_ED25519_KEY_FILE") or None,
    )
