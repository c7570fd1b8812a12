"""Region names for reports (names, not codes). Pure."""

from __future__ import annotations

from realname.identity.regions import lookup_region


def province_name(code: str | None) -> str:
    """A two-digit GB/T 2260 province's name (44 -> 广东省); the code itself if unknown."""
    if not code:
        return "unknown"
    region = lookup_region(code + "0000")
    return region.name if region is not None else code
