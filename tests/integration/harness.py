"""Real processes for end-to-end tests: the simulated venue and trading nodes as subprocesses of
`manage.py`, talking over real websockets, writing to the test database and the real Redis."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "e2e-api-key"
HMAC_SECRET = "e2e-hmac-secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_for(database_url: str, name: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the condition may throw while things start up
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    children: list[subprocess.Popen] = field(default_factory=list)

    def spawn(
        self, name: str, *args: str, program: tuple[str, ...] = (sys.executable, "manage.py")
    ) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the child
        child = subprocess.Popen(
            [*program, *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        child._log_handle = log  # type: ignore[attr-defined]
        self.children.append(child)
        return child

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            child._log_handle.close()  # type: ignore[attr-defined]


def start_web(procs: Processes, port: int | None = None) -> int:
    """The console as `make run` serves it (daphne, atomic_ops.asgi), on a free port."""
    port = port or free_port()
    daphne = str(Path(sys.executable).with_name("daphne"))
    procs.spawn("web", "-b", "127.0.0.1", "-p", str(port), "atomic_ops.asgi:application", program=(daphne,))
    wait_for(lambda: port_open(port), 60, f"the console on port {port}\n{procs.log('web')}")
    return port


def start_panel_relay(procs: Processes) -> None:
    procs.spawn("panels", "panelrelay")
    wait_for(lambda: "forwarding" in procs.log("panels"), 60, f"the panel relay\n{procs.log('panels')}")


def start_simvenue(
    procs: Processes,
    data_files: list[Path],
    *,
    speed: str = "max",
    port: int | None = None,
    extra: tuple[str, ...] = (),
) -> int:
    port = port or free_port()
    procs.spawn(
        "simvenue",
        "simvenue",
        "--symbol", "BTCUSDT",
        "--data", *map(str, data_files),
        "--port", str(port),
        "--speed", speed,
        "--api-key", API_KEY,
        "--hmac-secret", HMAC_SECRET,
        *extra,
    )  # fmt: skip
    wait_for(lambda: port_open(port), 60, f"the simulated venue on port {port}\n{procs.log('simvenue')}")
    return port


def node_document(name: str, venue_port: int, **overrides) -> dict:
    document = {
        "node": name,
        "venue": {
            "stream_url": f"ws://127.0.0.1:{venue_port}",
            "api_url": f"ws://127.0.0.1:{venue_port}/ws-api/v3",
            "api_key": API_KEY,
            "hmac_secret": HMAC_SECRET,
        },
        "instruments": [
            {
                "symbol": "BTCUSDT",
                "market": "spot",
                "strategy": "mm",
                "config": {
                    "strategy": {
                        "order_qty": "0.001",
                        "max_position": "0.01",
                        "half_spread_ticks": 2,
                        "requote_ticks": 2,
                        "decision_interval_ms": 100,
                        "warmup_events": 5,
                    }
                },
            }
        ],
        "engine": {"hash_every": 5000, "timer_ms": 50},
        "recovery": {"snapshot_interval_s": 2.0},
    }
    for key, value in overrides.items():
        document[key] = value
    return document


@dataclass
class NodeProcess:
    name: str
    child: subprocess.Popen
    state_dir: Path
    procs: Processes

    def health(self) -> dict:
        port = int((self.state_dir / "metrics.port").read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())

    def wait_trading(self, timeout: float = 60) -> dict:
        seen: list[dict] = []

        def ready():
            if self.child.poll() is not None:
                raise AssertionError(
                    f"node exited with {self.child.returncode}:\n{self.procs.log(self.name)[-3000:]}"
                )
            health = self.health()
            seen[:] = [health]
            return health if health.get("reconciled") and health.get("trading_state") == 0 else None

        try:
            return wait_for(ready, timeout, f"node {self.name} trading")
        except AssertionError as exc:  # say what the node reported last, and its log
            raise AssertionError(f"{exc}\nlast health: {seen[-1] if seen else None}\n"
                                 f"{self.procs.log(self.name)[-2000:]}") from None  # fmt: skip

    def kill(self) -> None:
        self.child.send_signal(signal.SIGKILL)
        self.child.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int:
        self.child.send_signal(signal.SIGTERM)
        return self.child.wait(timeout=timeout)


def start_node(procs: Processes, var_dir: Path, document: dict, config_path: Path) -> NodeProcess:
    config_path.write_bytes(orjson.dumps(document))
    name = document["node"]
    state_dir = var_dir / "nodes" / name
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "metrics.port").unlink()
    child = procs.spawn(name, "runnode", "--node", name, "--config", str(config_path))
    node = NodeProcess(name, child, state_dir, procs)
    wait_for(
        lambda: (state_dir / "metrics.port").exists() or child.poll() is not None,
        60,
        f"node {name} start-up\n{procs.log(name)[-2000:]}",
    )
    return node


def subprocess_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "atomic_ops.settings.test",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def venue_request(port: int, method: str, params: dict | None = None, *, signed: bool = True) -> dict:
    """One WebSocket API request to the simulated venue, signed with the e2e account's key."""
    from websockets.sync.client import connect

    from trading.binance.signing import HmacSigner, sign_params

    params = dict(params or {})
    if signed:
        params.update({"apiKey": API_KEY, "timestamp": int(time.time() * 1000)})
        sign_params(params, HmacSigner(HMAC_SECRET))
    with connect(f"ws://127.0.0.1:{port}/ws-api/v3", open_timeout=5) as ws:
        ws.send(json.dumps({"id": "t1", "method": method, "params": params}))
        while True:
            message = json.loads(ws.recv(timeout=5))
            if message.get("id") == "t1":
                return message


def venue_open_orders(port: int) -> list[dict]:
    answer = venue_request(port, "openOrders.status", {"symbol": "BTCUSDT"})
    assert answer.get("status") == 200, answer
    return answer["result"]
