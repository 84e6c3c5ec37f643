"""Memory estimates checked before a run starts."""

from __future__ import annotations

import os


class TooLargeError(MemoryError):
    """A request that would not fit in memory; raised before anything is allocated."""


def available_bytes() -> int:
    """Memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_fits(estimate: int, what: str, advice: str, fraction: float = 0.8) -> None:
    """Refuse `what` when `estimate` bytes exceed `fraction` of available memory."""
    limit = int(fraction * available_bytes())
    if estimate > limit:
        raise TooLargeError(
            f"{what} needs about {format_bytes(estimate)} but only {format_bytes(limit)} "
            f"({fraction:.0%} of available memory) may be used; {advice}"
        )
