"""manage.py simvenue: the simulated Binance venue on loopback.

    python manage.py simvenue --symbol BTCUSDT --data btcusdt_20240808.gz btcusdt_20240809.gz \\
        [--symbol ETHUSDT --data ethusdt_20240808.gz ...] [--host 127.0.0.1] [--port 9443]
        [--speed max|N] [--no-loop] [--rebase-time]
        [--api-key KEY (--hmac-secret SECRET | --ed25519-public-key FILE.pem) [--account NAME]]
        [--keys FILE.json] [--instrument FILE.json] [--fee SYMBOL=MAKER_PPM,TAKER_PPM]
        [--balance ASSET=AMOUNT] [--recv-window-ms N] [--orders-per-window N]
        [--order-window-seconds S] [--orders-per-day N] [--weight-limit N] [--weight-window-seconds S]

Thin: parse arguments, build a SimVenueConfig, run the server until Ctrl-C / SIGTERM. Every
expected failure ends in one CommandError line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.engine.affinity import AffinityError, parse_cpu_list, pin_process
from trading.instruments import InstrumentError, InstrumentRegistry
from trading.simvenue.config import (
    ApiKeyConfig,
    ConfigError,
    FeeOverride,
    RateLimitConfig,
    SimVenueConfig,
    SymbolFeedConfig,
    parse_speed,
)
from trading.simvenue.server import API_PATH, STREAM_PATH, SimVenueServer

MAX_FILE_BYTES = 1 << 20

HELP = """Serve recorded Binance market data and match orders on loopback (Binance protocol).

Symbols and data: give --symbol and --data in pairs, in order: the n-th --data list belongs to the
n-th --symbol (one --data may list several files, replayed in order: a day continues the last).

API keys: one key with --api-key and --hmac-secret or --ed25519-public-key (account --account,
default "default"); several keys/accounts with --keys FILE.json:
  {"keys": [{"api_key": "...", "account": "mm", "hmac_secret": "..."},
            {"api_key": "...", "account": "mm", "ed25519_public_key_file": "key.pem"}]}
"""


def _key_value(text: str, option: str, form: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise CommandError(f"{option} expects {form}, got {text!r}")
    return key, value


def _read_file(path: Path, option: str) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CommandError(f"{option}: {path} is larger than {MAX_FILE_BYTES} bytes")
    return raw


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--symbol", action="append", required=True, help="symbol, e.g. BTCUSDT (repeatable)"
        )
        parser.add_argument(
            "--data",
            action="append",
            nargs="+",
            type=Path,
            required=True,
            help="capture files of that symbol",
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9443, help="0 picks a free port")
        parser.add_argument(
            "--speed", default="1", help="'max' or a multiple of the recorded pace (default 1)"
        )
        parser.add_argument("--no-loop", action="store_true", help="stop replaying at the end of the data")
        parser.add_argument(
            "--rebase-time", action="store_true", help="shift event times so the replay starts now"
        )
        parser.add_argument("--api-key")
        parser.add_argument("--hmac-secret")
        parser.add_argument("--ed25519-public-key", type=Path, help="PEM file of the key's public half")
        parser.add_argument("--account", default="default", help="account of --api-key")
        parser.add_argument("--keys", type=Path, help="JSON file of API keys (several accounts)")
        parser.add_argument("--instrument", type=Path, help="instrument spec file for unlisted symbols")
        parser.add_argument("--fee", action="append", default=[], help="SYMBOL=MAKER_PPM,TAKER_PPM")
        parser.add_argument("--balance", action="append", default=[], help="ASSET=AMOUNT, every account")
        parser.add_argument("--recv-window-ms", type=int, default=5000)
        parser.add_argument("--max-open-orders", type=int, default=200, help="per account and symbol")
        parser.add_argument("--orders-per-window", type=int, default=50)
        parser.add_argument("--order-window-seconds", type=int, default=10)
        parser.add_argument("--orders-per-day", type=int, default=160_000)
        parser.add_argument("--weight-limit", type=int, default=6000)
        parser.add_argument("--weight-window-seconds", type=int, default=60)
        parser.add_argument(
            "--cpus", help="pin the venue to these CPUs, e.g. 0 or 0-1 (benchmarks: off the node's cores)"
        )

    def handle(self, *args, **options) -> None:
        try:
            config, registry = self._config(options)
            server = SimVenueServer(config, registry)
            if options["cpus"] is not None:
                pin_process(parse_cpu_list(options["cpus"]), "simvenue --cpus")
        except (ConfigError, InstrumentError, AffinityError) as exc:
            raise CommandError(str(exc)) from None
        try:
            asyncio.run(self._serve(server))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
            ) from None

    async def _serve(self, server: SimVenueServer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        host, port = await server.start()
        base = f"ws://{host}:{port}"
        self.stdout.write(f"simulated venue on {base}")
        self.stdout.write(f"  market data  {base}{STREAM_PATH}?streams={'/'.join(server.core.streams)}")
        self.stdout.write(f"  order entry  {base}{API_PATH}")
        self.stdout.write(f"  REST depth   http://{host}:{port}/api/v3/depth?symbol=...&limit=1000")
        await stop.wait()
        self.stdout.write("stopping the simulated venue")
        await server.stop()
        self.stdout.write(f"stopped: {orjson.dumps(server.stats()).decode()}")

    def _config(self, options: dict) -> tuple[SimVenueConfig, InstrumentRegistry]:
        symbols, data = options["symbol"], options["data"]
        if len(symbols) != len(data):
            raise CommandError(
                f"give --symbol and --data in pairs: {len(symbols)} --symbol and {len(data)} --data options"
            )
        registry = InstrumentRegistry()
        if options["instrument"] is not None:
            registry.load_file(options["instrument"])
        fees = {}
        for text in options["fee"]:
            symbol, value = _key_value(text, "--fee", "SYMBOL=MAKER_PPM,TAKER_PPM")
            maker, sep, taker = value.partition(",")
            try:
                fees[symbol.upper()] = FeeOverride(int(maker), int(taker))
            except ValueError:
                raise CommandError(
                    f"--fee expects SYMBOL=MAKER_PPM,TAKER_PPM (integers), got {text!r}"
                ) from None
        balances = dict(_key_value(text, "--balance", "ASSET=AMOUNT") for text in options["balance"])
        config = SimVenueConfig(
            feeds=tuple(SymbolFeedConfig(s, tuple(files)) for s, files in zip(symbols, data, strict=True)),
            host=options["host"],
            port=options["port"],
            speed=parse_speed(options["speed"]),
            loop=not options["no_loop"],
            api_keys=self._keys(options),
            recv_window_ms=options["recv_window_ms"],
            rate_limits=RateLimitConfig(
                orders_per_window=options["orders_per_window"],
                order_window_seconds=options["order_window_seconds"],
                orders_per_day=options["orders_per_day"],
                weight_per_window=options["weight_limit"],
                weight_window_seconds=options["weight_window_seconds"],
            ),
            fees=fees,
            starting_balances=balances,
            max_open_orders=options["max_open_orders"],
            rebase_time=options["rebase_time"],
        )
        return config, registry

    def _keys(self, options: dict) -> tuple[ApiKeyConfig, ...]:
        keys = []
        if options["api_key"] is not None:
            public = options["ed25519_public_key"]
            keys.append(
                ApiKeyConfig(
                    options["api_key"],
                    account=options["account"],
                    hmac_secret=options["hmac_secret"],
                    ed25519_public_key_pem=None
                    if public is None
                    else _read_file(public, "--ed25519-public-key"),
                )
            )
        elif options["hmac_secret"] is not None or options["ed25519_public_key"] is not None:
            raise CommandError("--hmac-secret and --ed25519-public-key need --api-key")
        if options["keys"] is not None:
            keys.extend(_keys_file(options["keys"]))
        return tuple(keys)


def _keys_file(path: Path) -> list[ApiKeyConfig]:
    try:
        document = orjson.loads(_read_file(path, "--keys"))
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"--keys: {path} is not valid JSON: {exc}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CommandError(f'--keys: {path} must be {{"keys": [{{"api_key": ..., ...}}, ...]}}')
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CommandError(f"--keys: entry #{index} is not an object")
        unknown = set(entry) - {"api_key", "account", "hmac_secret", "ed25519_public_key_file"}
        if unknown:
            raise CommandError(f"--keys: entry #{index} has unknown fields {sorted(unknown)}")
        public_file = entry.get("ed25519_public_key_file")
        if public_file is not None and not isinstance(public_file, str):
            raise CommandError(f"--keys: entry #{index}: ed25519_public_key_file must be a path")
        pem = None
        if public_file is not None:
            pem_path = Path(public_file)
            pem = _read_file(pem_path if pem_path.is_absolute() else path.parent / pem_path, "--keys")
        try:
            out.append(
                ApiKeyConfig(
                    entry.get("api_key"),
                    account=entry.get("account", "default"),
                    hmac_secret=entry.get("hmac_secret"),
                    ed25519_public_key_pem=pem,
                )
            )
        except ConfigError as exc:
            raise CommandError(f"--keys: entry #{index}: {exc}") from None
    return out
