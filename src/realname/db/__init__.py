"""Engine and session factory, base metadata, and the Alembic migrations."""
