"""manage.py seed_demo: make the console show something real on a fresh machine.

Creates the demo node (configs/node_demo.json: the skewed market maker on BTCUSDT against the
simulated venue of the Procfile) unless it exists, and runs the headline market-making
backtest over the recorded Binance BTCUSDT spot capture once (skipped when a run already
exists or the data is absent), and a local sign-in for the console: user "demo" in the admin
role, with a random password written to var/demo-credentials.txt (owner-only). Not for
production: with the production settings no user is created.
"""

import os
import secrets
from pathlib import Path

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand

from trading.backtest.config import parse_config
from trading.backtest.runner import BacktestError, BacktestRequest
from trading.models import BacktestRun, Node
from trading.services.backtests import backtest_run_execute
from trading.services.nodes import node_config_activate

DEMO_FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
DEMO_CONFIG = CONFIGS / "mm_btcusdt_bench.json"
DEMO_NODE = CONFIGS / "node_demo.json"


class Command(BaseCommand):
    help = "Run the demo backtest on ../shared/data once, so the console has a report to show."

    def handle(self, *args, **options) -> None:
        self._demo_node()
        self._demo_backtest()
        self._demo_user()

    def _demo_user(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from trading.roles import ADMIN

        credentials = Path(settings.ATOMIC_OPS["VAR_DIR"]) / "demo-credentials.txt"
        if settings.PROFILE == "production":
            self.stdout.write("demo: no demo user with the production settings")
            return
        users = get_user_model().objects
        if users.filter(username="demo").exists():
            self.stdout.write(f"demo: sign in as 'demo' (password in {credentials})")
            return
        password = secrets.token_urlsafe(12)
        user = users.create_user(username="demo", password=password)
        user.groups.add(Group.objects.get(name=ADMIN))
        fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"console http://127.0.0.1:8000  username: demo  password: {password}\n")
        self.stdout.write(f"demo: sign in as 'demo' with password {password} (also in {credentials})")

    def _demo_node(self) -> None:
        if Node.objects.filter(name="demo", active_config__isnull=False).exists():
            self.stdout.write("demo: node 'demo' exists")
            return
        node, version, _ = node_config_activate(
            node_name="demo", document=orjson.loads(DEMO_NODE.read_bytes()), comment="demo node"
        )
        self.stdout.write(f"demo: node 'demo' configured (version {version.version})")

    def _demo_backtest(self) -> None:
        if BacktestRun.objects.exists():
            self.stdout.write("demo: backtest runs already exist, nothing to do")
            return
        data_dir = Path(settings.ATOMIC_OPS["DATA_DIR"])
        files = tuple(data_dir / name for name in DEMO_FILES)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            self.stdout.write(f"demo: skipped, data not found: {', '.join(missing)}")
            return
        request = BacktestRequest(
            data=files,
            symbol="BTCUSDT",
            strategy="mm",
            config=parse_config(DEMO_CONFIG.read_bytes()),
            cache_dir=Path(settings.ATOMIC_OPS["CACHE_DIR"]),
        )
        try:
            _, run = backtest_run_execute(request=request, label="demo: skewed MM on Binance BTCUSDT spot")
        except BacktestError as exc:
            self.stderr.write(f"demo: backtest failed: {exc}")
            return
        self.stdout.write(f"demo: stored backtest run #{run.pk}")
