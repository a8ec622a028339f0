"""Configuration of the simulated venue: validated plain values, no I/O beyond reading key files.

    config = SimVenueConfig(
        feeds=(SymbolFeedConfig("BTCUSDT", (Path("btcusdt_20240808.gz"), ...)),),
        api_keys=(ApiKeyConfig("key-1", account="mm", hmac_secret="..."),),
        speed=MAX_SPEED,
    )

Every value is checked in __post_init__ and a bad one raises ConfigError naming the field, so the
command can print one clear line. Which market a symbol belongs to is detected from its data when
the venue resolves its instruments (trading.simvenue.instruments), not configured here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from trading.simvenue.params import API_KEY_RE

MAX_SPEED = math.inf
MAX_RECV_WINDOW_MS = 60_000
MAX_FEE_PPM = 100_000
MAX_PUBLIC_KEY_BYTES = 16_384
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ASSET_RE = re.compile(r"^[A-Z0-9]{1,16}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")


class ConfigError(ValueError):
    """The venue configuration is invalid; the message names the field."""


@dataclass(frozen=True)
class SymbolFeedConfig:
    """One symbol and its capture files, replayed in the order given (a day continues the last)."""

    symbol: str
    files: tuple[Path, ...]

    def __post_init__(self) -> None:
        if type(self.symbol) is not str or not re.match(r"^[A-Za-z0-9_.-]{1,40}$", self.symbol):
            raise ConfigError(f"symbol {self.symbol!r} must be 1-40 characters A-Z a-z 0-9 _ . -")
        object.__setattr__(self, "symbol", self.symbol.upper())
        files = tuple(Path(f) for f in self.files)
        if not files:
            raise ConfigError(f"{self.symbol}: at least one data file is required")
        for path in files:
            if not path.is_file():
                raise ConfigError(f"{self.symbol}: data file {path} does not exist or is not a file")
        object.__setattr__(self, "files", files)


@dataclass(frozen=True)
class ApiKeyConfig:
    """An API key of an account: an HMAC-SHA256 secret or an Ed25519 public key (PEM)."""

    api_key: str
    account: str = "default"
    hmac_secret: str | None = None
    ed25519_public_key_pem: bytes | None = None

    def __post_init__(self) -> None:
        if type(self.api_key) is not str or not API_KEY_RE.match(self.api_key):
            raise ConfigError("an API key must be 1-128 characters A-Z a-z 0-9 _ -")
        if type(self.account) is not str or not _ACCOUNT_RE.match(self.account):
            raise ConfigError(f"account name {self.account!r} must be 1-64 characters A-Z a-z 0-9 _ . -")
        if (self.hmac_secret is None) == (self.ed25519_public_key_pem is None):
            raise ConfigError(
                f"API key {self.api_key[:8]}...: give exactly one of an HMAC secret or an Ed25519 public key"
            )
        if self.hmac_secret is not None and (type(self.hmac_secret) is not str or not self.hmac_secret):
            raise ConfigError(f"API key {self.api_key[:8]}...: the HMAC secret must be a non-empty string")
        if self.ed25519_public_key_pem is not None:
            pem = self.ed25519_public_key_pem
            if type(pem) is not bytes or len(pem) > MAX_PUBLIC_KEY_BYTES:
                raise ConfigError(f"API key {self.api_key[:8]}...: the Ed25519 public key must be PEM bytes")
            try:
                key = load_pem_public_key(pem)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"API key {self.api_key[:8]}...: not a PEM public key ({exc})") from None
            if not isinstance(key, Ed25519PublicKey):
                raise ConfigError(f"API key {self.api_key[:8]}...: the public key is not an Ed25519 key")

    @property
    def kind(self) -> str:
        return "HMAC_SHA256" if self.hmac_secret is not None else "ED25519"


@dataclass(frozen=True)
class RateLimitConfig:
    """Binance's limits: ORDERS per account (50 per 10 s, 160000 per day) and REQUEST_WEIGHT per
    client IP (6000 per minute). Windows are fixed and aligned to the clock, as Binance counts."""

    orders_per_window: int = 50
    order_window_seconds: int = 10
    orders_per_day: int = 160_000
    weight_per_window: int = 6000
    weight_window_seconds: int = 60

    def __post_init__(self) -> None:
        for name in ("orders_per_window", "orders_per_day", "weight_per_window"):
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= 10**9:
                raise ConfigError(f"rate limit {name} must be an integer in 1..1000000000, got {value!r}")
        for name in ("order_window_seconds", "weight_window_seconds"):
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= 86_400:
                raise ConfigError(f"rate limit {name} must be an integer in 1..86400 seconds, got {value!r}")


@dataclass(frozen=True)
class FeeOverride:
    """Maker/taker fees for one symbol in ppm of value (negative = rebate)."""

    maker_fee_ppm: int
    taker_fee_ppm: int

    def __post_init__(self) -> None:
        for name in ("maker_fee_ppm", "taker_fee_ppm"):
            value = getattr(self, name)
            if type(value) is not int or not -MAX_FEE_PPM <= value <= MAX_FEE_PPM:
                raise ConfigError(f"{name} must be an integer in ±{MAX_FEE_PPM}, got {value!r}")


@dataclass(frozen=True)
class SimVenueConfig:
    feeds: tuple[SymbolFeedConfig, ...]
    host: str = "127.0.0.1"
    port: int = 9443
    speed: float = 1.0  # multiple of the capture's own pacing; MAX_SPEED = as fast as clients take it
    loop: bool = True
    api_keys: tuple[ApiKeyConfig, ...] = ()
    recv_window_ms: int = 5000
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)
    fees: dict[str, FeeOverride] = field(default_factory=dict)
    starting_balances: dict[str, str] = field(default_factory=dict)  # asset -> decimal, every account
    max_open_orders: int = 200  # per account and symbol (Binance's MAX_NUM_ORDERS)
    rebase_time: bool = False  # shift event times so the replay starts at the venue's clock
    paused: bool = False  # start without replaying (tests drive Replay.advance)
    subscriber_queue: int = 10_000  # messages buffered per connection before it is dropped as slow
    slow_subscriber_seconds: float = 5.0  # at max speed: how long the replay waits for a full queue
    max_request_bytes: int = 65_536  # larger API requests are refused with an error
    max_frame_bytes: int = 2**21  # larger frames close the connection (1009)
    max_connections: int = 512

    def __post_init__(self) -> None:
        feeds = tuple(self.feeds)
        if not feeds:
            raise ConfigError("at least one symbol with data files is required")
        seen = set()
        for feed in feeds:
            if not isinstance(feed, SymbolFeedConfig):
                raise ConfigError("feeds must be SymbolFeedConfig values")
            if feed.symbol in seen:
                raise ConfigError(f"symbol {feed.symbol} is given twice")
            seen.add(feed.symbol)
        object.__setattr__(self, "feeds", feeds)
        if type(self.host) is not str or not _HOST_RE.match(self.host):
            raise ConfigError(f"host {self.host!r} is not a host name or address")
        if type(self.port) is not int or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be an integer in 0..65535, got {self.port!r}")
        speed = self.speed
        if type(speed) not in (int, float) or math.isnan(speed) or speed <= 0:
            raise ConfigError(f"speed must be 'max' or a positive number, got {speed!r}")
        if speed != MAX_SPEED and speed > 10_000:
            raise ConfigError(f"speed {speed} is above 10000: use 'max'")
        object.__setattr__(self, "speed", float(speed))
        keys = tuple(self.api_keys)
        if len({k.api_key for k in keys}) != len(keys):
            raise ConfigError("an API key is configured twice")
        object.__setattr__(self, "api_keys", keys)
        if type(self.recv_window_ms) is not int or not 1 <= self.recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ConfigError(f"recv_window_ms must be an integer in 1..{MAX_RECV_WINDOW_MS}")
        for symbol, fee in self.fees.items():
            if symbol.upper() not in seen:
                raise ConfigError(f"fee override for {symbol}, which is not a configured symbol")
            if not isinstance(fee, FeeOverride):
                raise ConfigError(f"fee override for {symbol} must be a FeeOverride")
        object.__setattr__(self, "fees", {s.upper(): f for s, f in self.fees.items()})
        for asset, amount in self.starting_balances.items():
            if type(asset) is not str or not _ASSET_RE.match(asset):
                raise ConfigError(f"starting balance asset {asset!r} must be 1-16 characters A-Z 0-9")
            parse_amount(amount, f"starting balance of {asset}")
        for name, low, high in (
            ("max_open_orders", 1, 100_000),
            ("subscriber_queue", 16, 1_000_000),
            ("max_request_bytes", 1024, 2**20),
            ("max_frame_bytes", 4096, 2**26),
            ("max_connections", 1, 100_000),
        ):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ConfigError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if self.max_frame_bytes < self.max_request_bytes:
            raise ConfigError("max_frame_bytes must be at least max_request_bytes")
        slow = self.slow_subscriber_seconds
        if type(slow) not in (int, float) or not 0.01 <= slow <= 600:
            raise ConfigError(f"slow_subscriber_seconds must be in 0.01..600, got {slow!r}")
        for name in ("loop", "rebase_time", "paused"):
            if type(getattr(self, name)) is not bool:
                raise ConfigError(f"{name} must be true or false")

    @property
    def max_speed(self) -> bool:
        return self.speed == MAX_SPEED


def parse_speed(text: str) -> float:
    """'max' or a positive multiplier ('1', '10', '0.5')."""
    if text.strip().lower() == "max":
        return MAX_SPEED
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"speed must be 'max' or a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"speed must be 'max' or a positive number, got {text!r}")
    return value


def parse_amount(text: object, what: str) -> Decimal:
    """A finite decimal string (may be negative), e.g. a starting balance."""
    if type(text) is not str or not re.match(r"^-?[0-9]{1,20}(\.[0-9]{1,18})?$", text):
        raise ConfigError(f"{what} must be a decimal string like '1000.5', got {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{what} must be a decimal string, got {text!r}") from None
