"""Names of the hot path's risk reason codes (hotpath/risk.pxd RiskReason) for people."""

from __future__ import annotations

from hotpath import risk
from hotpath.risk import RR_CIRCUIT_LOSSES, RR_CIRCUIT_RAPID_FILLS
from hotpath.risk import STATE_HALTED as _HALTED

STATE_HALTED = int(_HALTED)  # as the node reports its trading state

# code -> name, from the module's RR_* constants (the enum members' .name is not set by Cython)
REASON_NAMES = {
    int(getattr(risk, name)): name.removeprefix("RR_").lower()
    for name in dir(risk)
    if name.startswith("RR_") and not name.startswith("RR_OK")
}
# a halt with one of these reasons was a circuit breaker: re-enabling the strategy needs approval
BREAKER_REASONS = frozenset({int(RR_CIRCUIT_LOSSES), int(RR_CIRCUIT_RAPID_FILLS)})


def reason_name(code: object) -> str:
    """ "circuit_losses" for 17; "" for 0 / None; "unknown (N)" for a code this build lacks."""
    if code is None or code == 0:
        return ""
    name = REASON_NAMES.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
    return name or f"unknown ({code!r})"[:40]


def is_breaker(code: object) -> bool:
    return isinstance(code, int) and not isinstance(code, bool) and code in BREAKER_REASONS
