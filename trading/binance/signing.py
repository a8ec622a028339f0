"""SIGNED request security of the Binance WebSocket API.

The payload is every request parameter except `signature`, sorted by name, formatted as
`name=value` joined with `&`. HMAC-SHA256 keys sign it as lowercase hex; Ed25519 keys sign it
and send the signature base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def signature_payload(params: Mapping[str, object]) -> str:
    return "&".join(f"{key}={_text(params[key])}" for key in sorted(params) if key != "signature")


class Signer(Protocol):
    def sign(self, payload: str) -> str: ...


class HmacSigner:
    def __init__(self, secret: str | bytes):
        self._secret = secret.encode() if isinstance(secret, str) else secret
        if not self._secret:
            raise ValueError("an HMAC secret must not be empty")

    def hmac_secret(self) -> bytes:
        """The secret, for the gateway's compiled order path (order_wire), which signs in C."""
        return self._secret

    def sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()


class Ed25519Signer:
    def __init__(self, private_key_pem: bytes, password: bytes | None = None):
        key = load_pem_private_key(private_key_pem, password=password)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the private key is not an Ed25519 key")
        self._key = key

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode("ascii"))).decode("ascii")


def sign_params(params: dict[str, object], signer: Signer) -> dict[str, object]:
    """Add `signature` to params (in place) and return them."""
    params.pop("signature", None)
    params["signature"] = signer.sign(signature_payload(params))
    return params


def verify_hmac(secret: bytes, params: Mapping[str, object], signature: object) -> bool:
    if not isinstance(signature, str):
        return False
    expected = hmac.new(secret, signature_payload(params).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def verify_ed25519(public_key_pem: bytes, params: Mapping[str, object], signature: object) -> bool:
    if not isinstance(signature, str):
        return False
    key = load_pem_public_key(public_key_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), signature_payload(params).encode("ascii"))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        return False
    return True
