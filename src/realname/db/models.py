"""Imports every domain's models so Alembic and the tests see the whole schema."""

from realname.db.base import Base

__all__ = ["Base"]
