"""Every knob of the gateway, read from the environment, with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from app.domain.abuse import AbusePolicy

ROOT = Path(__file__).resolve().parent.parent


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


DEV_JWT_SECRET = "dev-only-jwt-secret-never-use-in-production"


def _jwt_secret(production: bool) -> str:
    secret = os.environ.get("JWT_SECRET") or ""
    if production and len(secret) < 32:
        raise RuntimeError("APP_ENV=production needs JWT_SECRET of at least 32 characters")
    return secret or DEV_JWT_SECRET


@dataclass(frozen=True)
class Settings:
    """Configuration of one gateway process."""

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = ROOT / ".data"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl_seconds: int = 7 * 24 * 3600
    time_zone: str = "Asia/Shanghai"
    graphiql: bool = True
    introspection: bool = True
    env: str = "development"
    redis_prefix: str = "bmg:"
    dynamic_code_ttl_seconds: int = 60
    db_pool_size: int = 10
    log_level: str = "INFO"
    abuse: AbusePolicy = field(default_factory=AbusePolicy)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get("APP_ENV", "development")
        production = env == "production"
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            data_dir=Path(os.environ.get("APP_DATA_DIR", str(ROOT / ".data"))),
            jwt_secret=_jwt_secret(production),
            time_zone=os.environ.get("GROUP_TIME_ZONE", "Asia/Shanghai"),
            graphiql=_flag("GRAPHIQL", not production),
            introspection=_flag("INTROSPECTION", not production),
            env=env,
            redis_prefix=os.environ.get("REDIS_PREFIX", "bmg:"),
            db_pool_size=int(os.environ.get("DB_POOL_SIZE", "10")),
            log_level=(os.environ.get("LOG_LEVEL") or "INFO").upper(),
            abuse=AbusePolicy.from_env(os.environ),
        )
