"""CPU pinning: the node's event loop on cores of its own, its helpers and the venue elsewhere.

On a shared machine the scheduler moves the node between cores and time-slices it with the
journal sink, PostgreSQL and (in benchmarks) the simulated venue; every such preemption lands
in the tick-to-order tail. Pinning is what trading hosts do (with isolated cores); here it is a
validated setting, applied to every thread of the process so threads started earlier (the
journal's fsync thread) move too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

_NUMBER = re.compile(r"[0-9]{1,4}")

MAX_CPU = 1023  # the kernel's default cpu_set_t size


class AffinityError(ValueError):
    pass


def check_cpus(cpus: Iterable[object], what: str = "cpus") -> frozenset[int]:
    """A non-empty set of CPU numbers, each an int in 0..1023 (no bools, no duplicates)."""
    if isinstance(cpus, (str, bytes)) or not isinstance(cpus, Iterable):
        raise AffinityError(f"{what}: expected a list of CPU numbers, got {cpus!r}")
    items = list(cpus)
    if not items:
        raise AffinityError(f"{what}: give at least one CPU")
    for cpu in items:
        if type(cpu) is not int or not 0 <= cpu <= MAX_CPU:
            raise AffinityError(f"{what}: {cpu!r} is not a CPU number (0..{MAX_CPU})")
    if len(set(items)) != len(items):
        raise AffinityError(f"{what}: CPU listed twice in {items}")
    return frozenset(items)


def parse_cpu_list(text: str, what: str = "--cpus") -> frozenset[int]:
    """'0', '0,2', '0-3' or '0-1,4' (the taskset / cpuset list format)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        raise AffinityError(f"{what}: expected a CPU list such as 0 or 0,2 or 0-3, got {text!r}")
    cpus: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            if not _NUMBER.fullmatch(low) or (dash and not _NUMBER.fullmatch(high)):
                raise ValueError(part)  # ASCII digits only: int() also takes "+1", " 1", "٣"
            if dash:
                first, last = int(low), int(high)
                if last < first or last - first > MAX_CPU:
                    raise ValueError(part)
                cpus.extend(range(first, last + 1))
            else:
                cpus.append(int(part))
        except ValueError:
            raise AffinityError(f"{what}: {part!r} is not a CPU number or range") from None
    return check_cpus(cpus, what)


def online_cpus() -> frozenset[int]:
    try:
        with open("/sys/devices/system/cpu/online") as handle:
            return parse_cpu_list(handle.read().strip(), "online CPUs")
    except (OSError, AffinityError):
        return frozenset(range(os.cpu_count() or 1))


def require_online(cpus: frozenset[int], what: str) -> frozenset[int]:
    """cpus, if every one is online here (the kernel would silently drop the others)."""
    online = online_cpus()
    missing = sorted(cpus - online)
    if missing:
        raise AffinityError(
            f"{what}: CPU {missing[0]} is not online on this machine (online: {sorted(online)})"
        )
    return cpus


def pin_thread_ids(ids: Iterable[int], cpus: frozenset[int], what: str) -> None:
    require_online(cpus, what)
    for task_id in ids:
        try:
            os.sched_setaffinity(task_id, cpus)
        except ProcessLookupError:
            continue  # a thread that ended meanwhile
        except OSError as exc:
            available = sorted(os.sched_getaffinity(0))
            raise AffinityError(
                f"{what}: cannot run on CPUs {sorted(cpus)} ({exc.strerror}); "
                f"this process may use {available}"
            ) from exc


def _task_ids(pid: int | str) -> list[int]:
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


def pin_process(cpus: frozenset[int], what: str = "node") -> None:
    """Move every thread of this process (and those it starts later) onto `cpus`."""
    pin_thread_ids(_task_ids("self") or [0], cpus, what)


def process_cpus(pid: int = 0) -> frozenset[int]:
    return frozenset(os.sched_getaffinity(pid))
