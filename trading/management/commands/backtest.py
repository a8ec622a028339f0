"""manage.py backtest: run a strategy over recorded market data and report.

    python manage.py backtest --data PATH [PATH ...] --symbol SYM [--strategy avellaneda|mm|taker]
        [--config FILE.json] [--instrument FILE.json] [--latency-us N] [--equity-csv FILE]
        [--features-csv FILE] [--report-json FILE] [--no-db] [--label TEXT] [--no-cache]

Thin: parse and check arguments, call the backtest service, print and write its outputs. Every
expected failure (bad argument, file, data or config) ends in one CommandError line.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.config import STRATEGIES, ConfigError, parse_config
from trading.backtest.report import format_report_box, write_equity_csv, write_features_csv, write_report_json
from trading.backtest.runner import BacktestError, BacktestRequest
from trading.instruments import InstrumentError, InstrumentRegistry
from trading.marketdata import DataError
from trading.services.backtests import backtest_run_execute

MAX_CONFIG_BYTES = 1 << 20


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"--latency-us must be a whole number of microseconds, got {text!r}") from None
    if not 0 <= value <= 10_000_000:
        raise CommandError(f"--latency-us must be between 0 and 10000000, got {value}")
    return value


def _output_path(value: Path | None, option: str) -> Path | None:
    if value is None:
        return None
    if value.exists() and value.is_dir():
        raise CommandError(f"{option} {value} is a directory")
    if not value.parent.exists():
        raise CommandError(f"{option}: the directory {value.parent} does not exist")
    return value


class Command(BaseCommand):
    help = "Run a strategy over recorded market data through the compiled engine and simulated venue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", nargs="+", required=True, type=Path, help="recorded market data files")
        parser.add_argument("--symbol", required=True, help="instrument symbol, e.g. BTCUSDT")
        parser.add_argument("--strategy", choices=STRATEGIES, default="avellaneda")
        parser.add_argument("--config", type=Path, help="strategy/risk/venue configuration (JSON)")
        parser.add_argument(
            "--instrument", type=Path, help="instrument spec file (JSON) for unlisted symbols"
        )
        parser.add_argument(
            "--latency-us", type=str, default=None, help="order entry and response latency, µs"
        )
        parser.add_argument("--equity-csv", type=Path, help="write one row per fill")
        parser.add_argument("--features-csv", type=Path, help="write one row per applied depth message")
        parser.add_argument("--report-json", type=Path, help="write the report as JSON")
        parser.add_argument("--no-db", action="store_true", help="do not store the run in the database")
        parser.add_argument("--no-cache", action="store_true", help="convert the data without the .npy cache")
        parser.add_argument("--label", default="", help="a note stored with the run")

    def handle(self, *args, **options) -> None:
        latency = _non_negative_int(options["latency_us"]) if options["latency_us"] is not None else None
        equity_csv = _output_path(options["equity_csv"], "--equity-csv")
        features_csv = _output_path(options["features_csv"], "--features-csv")
        report_json = _output_path(options["report_json"], "--report-json")
        data = tuple(options["data"])
        for path in data:
            if not path.exists():
                raise CommandError(f"--data: {path} does not exist")
            if not path.is_file():
                raise CommandError(f"--data: {path} is not a file")
        try:
            config = parse_config(self._read_config(options["config"]))
            registry = InstrumentRegistry()
            if options["instrument"] is not None:
                registry.load_file(options["instrument"])
            request = BacktestRequest(
                data=data,
                symbol=options["symbol"],
                strategy=options["strategy"],
                config=config,
                latency_us=latency,
                cache_dir=None if options["no_cache"] else Path(settings.ATOMIC_OPS["CACHE_DIR"]),
                record_features=features_csv is not None,
            )
            result, run = backtest_run_execute(
                request=request, store=not options["no_db"], label=options["label"], registry=registry
            )
        except (BacktestError, ConfigError, DataError, InstrumentError) as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(format_report_box(result.report, request.strategy))
        try:
            if report_json:
                write_report_json(report_json, result.report)
            if equity_csv:
                write_equity_csv(equity_csv, result.records, result.spec)
            if features_csv:
                write_features_csv(features_csv, result.features, result.spec)
        except OSError as exc:
            raise CommandError(f"cannot write output: {exc.strerror or exc}: {exc.filename}") from exc
        if run is not None:
            self.stdout.write(f"stored as backtest run #{run.pk}")

    def _read_config(self, path: Path | None) -> bytes | None:
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"--config: cannot read {path}: {exc.strerror or exc}") from exc
        if len(raw) > MAX_CONFIG_BYTES:
            raise CommandError(f"--config: {path} is larger than {MAX_CONFIG_BYTES} bytes")
        return raw
