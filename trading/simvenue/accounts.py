"""API keys of the venue's accounts and the verification of SIGNED requests.

Signatures are checked with trading.binance.signing (the same payload rules the node signs with):
HMAC-SHA256 keys sign as hex, Ed25519 keys as base64. Several keys may belong to one account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trading.binance.signing import verify_ed25519, verify_hmac
from trading.simvenue.config import ApiKeyConfig

HMAC = "HMAC_SHA256"
ED25519 = "ED25519"


@dataclass(frozen=True)
class ApiKey:
    api_key: str
    account: str
    kind: str  # HMAC or ED25519
    _secret: bytes

    def verify(self, params: Mapping[str, object], signature: object) -> bool:
        if self.kind == HMAC:
            return verify_hmac(self._secret, params, signature)
        return verify_ed25519(self._secret, params, signature)


class KeyRing:
    def __init__(self, keys: tuple[ApiKeyConfig, ...]):
        self._keys = {
            k.api_key: ApiKey(
                k.api_key,
                k.account,
                HMAC if k.hmac_secret is not None else ED25519,
                k.hmac_secret.encode() if k.hmac_secret is not None else k.ed25519_public_key_pem,
            )
            for k in keys
        }

    def get(self, api_key: str) -> ApiKey | None:
        return self._keys.get(api_key)

    def accounts(self) -> set[str]:
        return {k.account for k in self._keys.values()}
