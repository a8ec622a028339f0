"""Client order ids on the wire: `<prefix>-<n>` where n is the node's int64 client id counter.

Binance allows `^[\\.A-Z\\:/a-z0-9_-]{1,36}$`; the prefix names the node so that orders of
other nodes and manual orders on the same account are recognisable as not ours.
"""

from __future__ import annotations

import re

PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,16}$")


def check_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.match(prefix):
        raise ValueError(f"client order id prefix {prefix!r} must be 1-16 letters, digits or _")
    return prefix


def client_order_id(prefix: str, number: int) -> str:
    if number <= 0:
        raise ValueError("client order numbers start at 1")
    text = f"{prefix}-{number}"
    if len(text) > 36:
        raise ValueError(f"client order id {text!r} is longer than 36 characters")
    return text


def parse_client_order_id(prefix: str, text: object) -> int | None:
    """The node's client id for one of our ids, None for anything else (other nodes, manual)."""
    if not isinstance(text, str) or not text.startswith(prefix + "-"):
        return None
    digits = text[len(prefix) + 1 :]
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0") or len(digits) > 18:
        return None
    return int(digits)
