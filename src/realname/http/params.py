"""Path and query parameters the routes share: how a line is addressed in a URL, how a list
of kits is bounded and searched.

A line is addressed by its id, never its number (no MSISDN in a URL, an access log or a
proxy's cache key). Importing this module registers the `{x:id}` converter.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from starlette.convertors import IntegerConvertor, register_url_convertor

LineId = Annotated[int, Path(ge=1, le=2**62, description="The line's id (never the MSISDN)")]
ChannelId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ListLimit = Annotated[int, Query(ge=1, le=1000, description="At most this many")]
# The last digits a customer chooses a number by (尾号): never a whole number in a URL.
NumberEnding = Annotated[
    str | None, Query(pattern=r"^[0-9]{1,4}$", description="Only numbers ending in these digits")
]


class IdConvertor(IntegerConvertor):
    """`{x:id}`: an id of at most 19 digits. Starlette's `int` converter matches any run of
    digits and calls `int()` on it, which raises past Python's 4,300-digit limit (a 500); a
    longer run simply does not match here (404), and `LineId` bounds the rest (400)."""

    regex = "[0-9]{1,19}"


register_url_convertor("id", IdConvertor())
