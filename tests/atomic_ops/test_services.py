"""The embedded PostgreSQL/Redis starter, on a fresh data directory (the session's own servers
under var/ are exercised by every database test)."""

import socket
import time

import psycopg
import pytest

from atomic_ops.services import ServiceError, check_port_free, ensure_redis, ensure_services, stop_services


def _redis_ping(url: str) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(url.removeprefix("unix://"))
        conn.sendall(b"PING\r\n")
        return conn.recv(16)


@pytest.mark.slow
def test_fresh_start_is_idempotent_and_stops(tmp_path):
    var = tmp_path / "var"
    try:
        urls = ensure_services(var)
        with psycopg.connect(urls.database_url) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == "atomic_ops"
            assert conn.execute("show server_version_num").fetchone()[0].startswith("16")
        assert _redis_ping(urls.redis_url).startswith(b"+PONG")
        started = time.monotonic()
        again = ensure_services(var)
        assert again == urls
        assert time.monotonic() - started < 2.0, "a second start must reuse the running servers"
        assert (var / "services.json").read_text().count("unix://") == 1
    finally:
        stopped = stop_services(var)
    assert set(stopped) == {"redis", "postgres"}
    with pytest.raises(OSError):
        _redis_ping(urls.redis_url)


def test_var_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    with pytest.raises(ServiceError, match="data directory"):
        ensure_services(target)


def test_foreign_pg_directory_is_refused(tmp_path):
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "something").write_text("not postgres")
    with pytest.raises(ServiceError, match="not a PostgreSQL data directory"):
        ensure_services(tmp_path, redis=False)


def test_too_long_socket_path_is_refused(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    with pytest.raises(ServiceError, match="longer than"):
        ensure_redis(deep)


def test_busy_web_port_is_refused_with_advice():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ServiceError, match=f"127.0.0.1:{port}.*WEB_PORT"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)  # free again once released
