"""All configuration, from `REALNAME_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALNAME_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/realname.db",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://… in production",
    )
    database_echo: bool = Field(default=False, description="log every SQL statement")
    database_pool_size: int = Field(default=10, ge=1, description="PostgreSQL pool size")
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    log_level: str = Field(default="INFO")


@lru_cache
def get_settings() -> Settings:
    return Settings()
