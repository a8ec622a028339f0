"""Configuration checks and `manage.py simvenue`: every bad value is one clear error."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import CommandError, call_command

from tests.trading.simvenue.helpers import ed25519_pair
from trading.instruments import InstrumentRegistry
from trading.simvenue.config import (
    MAX_SPEED,
    ApiKeyConfig,
    ConfigError,
    FeeOverride,
    RateLimitConfig,
    SimVenueConfig,
    SymbolFeedConfig,
    parse_speed,
)
from trading.simvenue.instruments import resolve_instruments

REPO = Path(__file__).resolve().parents[3]


def feed(path: Path, symbol: str = "BTCUSDT") -> tuple[SymbolFeedConfig, ...]:
    return (SymbolFeedConfig(symbol, (path,)),)


def test_speed_parsing():
    assert parse_speed("max") == parse_speed("MAX") == MAX_SPEED
    assert parse_speed("2.5") == 2.5
    for bad in ("0", "-1", "fast", "nan", "inf", ""):
        with pytest.raises(ConfigError, match="speed"):
            parse_speed(bad)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"speed": 0}, "speed"),
        ({"speed": -2.0}, "speed"),
        ({"speed": math.nan}, "speed"),
        ({"speed": "max"}, "speed"),
        ({"port": 70000}, "port"),
        ({"host": "bad host!"}, "host"),
        ({"recv_window_ms": 60_001}, "recv_window_ms"),
        ({"recv_window_ms": 0}, "recv_window_ms"),
        ({"fees": {"ETHUSDT": FeeOverride(1, 2)}}, "not a configured symbol"),
        ({"starting_balances": {"USDT": "lots"}}, "starting balance of USDT"),
        ({"starting_balances": {"us dt": "1"}}, "asset"),
        ({"max_open_orders": 0}, "max_open_orders"),
        ({"subscriber_queue": 1}, "subscriber_queue"),
        ({"loop": "yes"}, "loop"),
        ({"api_keys": (ApiKeyConfig("k", hmac_secret="a"), ApiKeyConfig("k", hmac_secret="b"))}, "twice"),
    ],
)
def test_bad_config_values_are_refused(btc_head, options, message):
    with pytest.raises(ConfigError, match=message):
        SimVenueConfig(feeds=feed(btc_head), **options)


def test_bad_feeds_keys_and_limits_are_refused(btc_head, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        SymbolFeedConfig("BTCUSDT", (tmp_path / "missing.gz",))
    with pytest.raises(ConfigError, match="at least one data file"):
        SymbolFeedConfig("BTCUSDT", ())
    with pytest.raises(ConfigError, match="given twice"):
        SimVenueConfig(feeds=feed(btc_head) + feed(btc_head))
    with pytest.raises(ConfigError, match="exactly one"):
        ApiKeyConfig("k", hmac_secret="s", ed25519_public_key_pem=ed25519_pair()[1])
    with pytest.raises(ConfigError, match="exactly one"):
        ApiKeyConfig("k")
    with pytest.raises(ConfigError, match="not a PEM public key"):
        ApiKeyConfig(
            "k", ed25519_public_key_pem=b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"
        )
    rsa = (
        generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        ApiKeyConfig("k", ed25519_public_key_pem=rsa)
    with pytest.raises(ConfigError, match="API key"):
        ApiKeyConfig("white space", hmac_secret="s")
    with pytest.raises(ConfigError, match="orders_per_window"):
        RateLimitConfig(orders_per_window=0)
    with pytest.raises(ConfigError, match="weight_window_seconds"):
        RateLimitConfig(weight_window_seconds=100_000)
    with pytest.raises(ConfigError, match="maker_fee_ppm"):
        FeeOverride(200_000, 0)


def test_symbols_resolve_through_the_registry_in_the_market_of_their_data(btc_head, data_dir):
    resolved = resolve_instruments(
        SimVenueConfig(feeds=feed(btc_head), fees={"BTCUSDT": FeeOverride(-100, 700)}), InstrumentRegistry()
    )
    (btc,) = resolved
    assert (btc.symbol, btc.market, btc.depth_channel) == ("BTCUSDT", "spot", "depth@100ms")
    assert (btc.spec.maker_fee_ppm, btc.spec.taker_fee_ppm) == (-100, 700)
    assert btc.streams == ("btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker")
    usdm = resolve_instruments(
        SimVenueConfig(feeds=feed(data_dir / "hftbacktest/usdm/btcusdt_20240808.gz")), InstrumentRegistry()
    )[0]
    assert (usdm.market, usdm.depth_channel) == ("usdm", "depth@0ms")
    with pytest.raises(ConfigError, match="no Binance messages for ETHUSDT"):
        resolve_instruments(SimVenueConfig(feeds=feed(btc_head, "ETHUSDT")), InstrumentRegistry())
    tardis = data_dir / "market_maker/XBTUSD_2024-08-01_00h_quotes.csv.gz"
    with pytest.raises(ConfigError, match="replays Binance captures"):
        resolve_instruments(SimVenueConfig(feeds=feed(tardis)), InstrumentRegistry())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--symbol", "BTCUSDT", "--symbol", "ETHUSDT", "--data", "{head}"], "in pairs"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--speed", "warp"], "speed"),
        (["--symbol", "BTCUSDT", "--data", "/no/such/file.gz"], "does not exist"),
        (["--symbol", "NOPE", "--data", "{head}"], "no Binance messages for NOPE"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--hmac-secret", "s"], "need --api-key"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--api-key", "k"], "exactly one"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--fee", "BTCUSDT=1"], "MAKER_PPM,TAKER_PPM"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--balance", "USDT"], "ASSET=AMOUNT"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--orders-per-window", "0"], "orders_per_window"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--keys", "/no/keys.json"], "cannot read"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--cpus", "x"], "--cpus: 'x' is not a CPU"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--cpus", "3-1"], "--cpus"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--cpus", "0,0"], "listed twice"),
        (["--symbol", "BTCUSDT", "--data", "{head}", "--cpus", "1023"], "not online"),
    ],
)
def test_command_refuses_bad_arguments_with_one_line(btc_head, arguments, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command("simvenue", *[a.replace("{head}", str(btc_head)) for a in arguments])
    assert "\n" not in str(refused.value)


def test_command_keys_file(btc_head, tmp_path):
    _, public = ed25519_pair()
    (tmp_path / "carol.pem").write_bytes(public)
    keys = tmp_path / "keys.json"
    keys.write_text(
        '{"keys": [{"api_key": "a1", "hmac_secret": "s"}, {"api_key": "c1", "account": "carol", "oops": 1}]}'
    )
    with pytest.raises(CommandError, match=r"entry #1 has unknown fields \['oops'\]"):
        call_command("simvenue", "--symbol", "BTCUSDT", "--data", str(btc_head), "--keys", str(keys))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_serves_until_sigterm_or_ctrl_c(btc_head, tmp_path, stop_signal):
    _, public = ed25519_pair()
    pem = tmp_path / "ed.pem"
    pem.write_bytes(public)
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simvenue",
            "--symbol",
            "BTCUSDT",
            "--data",
            str(btc_head),
            "--port",
            "0",
            "--speed",
            "max",
            "--api-key",
            "edkey",
            "--ed25519-public-key",
            str(pem),
        ],  # fmt: skip
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = process.stdout.readline().decode()
        assert first.startswith("simulated venue on ws://127.0.0.1:"), first
        urls = [process.stdout.readline().decode() for _ in range(3)]
        assert "/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker" in urls[0]
        assert "/ws-api/v3" in urls[1]
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0
    assert (
        b"stopping the simulated venue" in output and b'stopped: {"symbols":{"BTCUSDT":{"messages":' in output
    )
