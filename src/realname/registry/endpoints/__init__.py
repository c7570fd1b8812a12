"""The operator API under /v1 for lines: the router (`router`), in two parts by job: the
reads (`reads.py`) and the writes, stock and the lifecycle operations (`operations.py`), both
standing on `visibility.py` (one tenant check, the owner masked). Every line an enterprise
cannot see answers 404, exactly like a line that does not exist."""

from __future__ import annotations

from fastapi import APIRouter

from realname.registry.endpoints import operations, reads
from realname.registry.endpoints.reads import event_out
from realname.registry.endpoints.visibility import REFUSALS, line_out, line_view, visible_line

__all__ = ["REFUSALS", "event_out", "line_out", "line_view", "router", "visible_line"]

router = APIRouter()
router.include_router(reads.router)
router.include_router(operations.router)
