"""Every knob of the gateway, read from the environment, with embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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


def _sign_in_settings(production: bool) -> dict[str, Any]:
    """JWT_KEY_ID ... WECHAT_*: unset or empty means the default."""
    env = {k: v.strip() for k, v in os.environ.items() if v.strip()}
    wechat_appid = env.get("WECHAT_APPID", "")
    if wechat_appid and not env.get("WECHAT_SECRET"):
        raise RuntimeError("WECHAT_APPID needs WECHAT_SECRET")
    values: dict[str, Any] = {
        "jwt_key_id": env.get("JWT_KEY_ID", "k1"),
        "jwt_previous_keys": env.get("JWT_PREVIOUS_KEYS", ""),
        "jwt_issuer": env.get("JWT_ISSUER", "big-membership-gateway"),
        "jwt_audience": env.get("JWT_AUDIENCE", "big-membership-gateway"),
        "access_token_ttl_seconds": int(env.get("ACCESS_TOKEN_TTL_SECONDS", "900")),
        "refresh_token_ttl_days": int(env.get("REFRESH_TOKEN_TTL_DAYS", "30")),
        "session_retention_days": int(env.get("SESSION_RETENTION_DAYS", "30")),
        "jwks_url": env.get("JWKS_URL", ""),
        "jwks_issuer": env.get("JWKS_ISSUER", ""),
        "jwks_audience": env.get("JWKS_AUDIENCE", ""),
        "jwks_member_claim": env.get("JWKS_MEMBER_CLAIM", "sub"),
        "wechat_appid": wechat_appid,
        "wechat_secret": env.get("WECHAT_SECRET", ""),
        "wechat_api_base": env.get("WECHAT_API_BASE", "https://api.weixin.qq.com"),
        "wechat_timeout_seconds": float(env.get("WECHAT_TIMEOUT_SECONDS", "3")),
        "wechat_registration_unit": env.get("WECHAT_REGISTRATION_UNIT", "MALL"),
    }
    if values["jwks_url"] and not values["jwks_issuer"]:
        raise RuntimeError("JWKS_URL needs JWKS_ISSUER (which tokens to verify with it)")
    previous = values["jwt_previous_keys"].split()
    if production and any(len(part.partition(":")[2]) < 32 for part in previous):
        raise RuntimeError("APP_ENV=production needs JWT_PREVIOUS_KEYS secrets of 32+ characters")
    return values


@dataclass(frozen=True)
class AbusePolicy:
    """The limits, from the environment (ABUSE_*); a limit of 0 switches that check off."""

    member_earn_limit: int = 20
    member_earn_window_seconds: int = 3600
    device_earn_limit: int = 60
    device_earn_window_seconds: int = 3600
    device_member_limit: int = 5
    device_member_window_seconds: int = 86400
    refund_loop_window_hours: int = 24
    refund_loop_hold_days: int = 0  # flag only: a size exchange is a refund loop too
    redis_down: str = "allow"
    # Sign-in from the mini-program (docs/sign-in.md): attempts per device and per WeChat openid
    sign_in_device_limit: int = 10
    sign_in_device_window_seconds: int = 600
    sign_in_openid_limit: int = 10
    sign_in_openid_window_seconds: int = 600

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AbusePolicy:
        """ABUSE_MEMBER_EARN_LIMIT, ..., ABUSE_REDIS_DOWN=allow|deny; unset: the defaults."""
        values: dict[str, Any] = {}
        for name, default in cls().__dict__.items():
            raw = (environ.get(f"ABUSE_{name.upper()}") or "").strip()
            if raw:
                values[name] = int(raw) if isinstance(default, int) else raw.lower()
        policy = cls(**values)
        if policy.redis_down not in ("allow", "deny"):
            raise ValueError("ABUSE_REDIS_DOWN must be allow or deny")
        return policy


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
    # Redis on a request path (docs/operations.md): every call gives up after this long, and
    # a worker holds at most this many connections (subscriptions share one of them).
    redis_timeout_seconds: float = 0.25
    redis_max_connections: int = 32
    max_subscriptions_per_connection: int = 10
    max_subscriptions_per_caller: int = 20
    dynamic_code_ttl_seconds: int = 60
    db_pool_size: int = 10
    log_level: str = "INFO"
    partner_key_cache_seconds: float = 30.0
    format_sources: str = ""  # FORMAT_SOURCES: JSON, which unit reads its data from where
    # Limits and protection (docs/api.md, "Limits and protection")
    max_query_depth: int = 10
    max_query_aliases: int = 30
    max_query_tokens: int = 2000
    max_request_bytes: int = 1_048_576  # larger request bodies: 413 before they are read
    max_query_cost: int = 5000
    query_budget_capacity: int = 20000
    query_budget_leak_per_second: float = 200.0
    query_budget_partner_factor: int = 10
    request_timeout_seconds: float = 10.0
    db_statement_timeout_ms: int = 5000
    # The outbox (docs/events.md): how long a worker gathers relayed events before marking them
    # in one UPDATE, how often it sweeps events left unrelayed, how old an event must be before
    # the sweeper takes it, how long relayed events are kept.
    outbox_mark_seconds: float = 0.2
    outbox_sweep_seconds: float = 10.0
    outbox_grace_seconds: float = 30.0
    outbox_retention_days: int = 7
    # Vouchers (docs/rights.md): unknown codes one caller may try per window before its
    # lookups and write-offs are refused (THROTTLED); how long a unit may undo a write-off.
    voucher_guess_limit: int = 10
    voucher_guess_window_seconds: int = 600
    voucher_undo_hours: int = 24
    # Webhooks out (docs/webhooks.md): endpoints on private addresses (tests, a local receiver),
    # whether `serve` runs the dispatcher, how often it looks for work without being woken, how
    # long one attempt may take, how long a claimed message is left to its worker before
    # another takes it (longer than the timeout), how many sends at once, after how many days
    # of failure an endpoint is disabled; the warning jobs' horizons.
    webhooks_allow_private: bool = False
    webhooks_dispatch: bool = True
    webhooks_poll_seconds: float = 1.0
    webhooks_timeout_seconds: float = 15.0
    webhooks_lease_seconds: float = 60.0
    webhooks_concurrency: int = 20
    webhooks_disable_after_days: int = 5
    points_expiring_warning_days: int = 30
    tier_downgrade_warning_days: int = 30
    # Figures (docs/figures.md): the band of sales the points may cost. Outstanding points are
    # valued at settlement's clearing price (its terms), not a setting of their own.
    figures_cost_share_low: Decimal = Decimal("0.03")
    figures_cost_share_high: Decimal = Decimal("0.05")
    abuse: AbusePolicy = field(default_factory=AbusePolicy)
    extra: dict[str, str] = field(default_factory=dict)
    # Member sign-in (docs/sign-in.md). Tokens name their issuer and audience and the key that
    # signed them (`kid`); JWT_PREVIOUS_KEYS ("kid:secret kid:secret") still verify after a
    # rotation. The mini-program gets a short access token and a long refresh token.
    jwt_key_id: str = "k1"
    jwt_previous_keys: str = ""
    jwt_issuer: str = "big-membership-gateway"
    jwt_audience: str = "big-membership-gateway"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    session_retention_days: int = 30  # ended sessions kept this long, then pruned (a job)
    # An external identity provider whose member tokens the gateway also accepts (JWKS).
    jwks_url: str = ""
    jwks_issuer: str = ""
    jwks_audience: str = ""
    jwks_member_claim: str = "sub"
    # WeChat mini-program login; no WECHAT_APPID: the development stand-in (never in production).
    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = 3.0
    wechat_registration_unit: str = "MALL"  # the unit a mini-program registration is made at
    # The points mall (docs/mall.md): how long a points + cash order waits for its payment.
    mall_payment_minutes: int = 15
    # A shipped gift its member has not confirmed is received this many days after shipping.
    mall_auto_complete_days: int = 7

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def webhooks_private_ok(self) -> bool:
        """Whether webhook endpoints may be plain http or on loopback, private or link-local
        addresses: only when allowed outright, or in development."""
        return self.webhooks_allow_private or self.env == "development"

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
            redis_timeout_seconds=float(os.environ.get("REDIS_TIMEOUT_SECONDS", "0.25")),
            redis_max_connections=int(os.environ.get("REDIS_MAX_CONNECTIONS", "32")),
            max_subscriptions_per_connection=int(
                os.environ.get("MAX_SUBSCRIPTIONS_PER_CONNECTION", "10")
            ),
            max_subscriptions_per_caller=int(os.environ.get("MAX_SUBSCRIPTIONS_PER_CALLER", "20")),
            db_pool_size=int(os.environ.get("DB_POOL_SIZE", "10")),
            log_level=(os.environ.get("LOG_LEVEL") or "INFO").upper(),
            partner_key_cache_seconds=float(os.environ.get("PARTNER_KEY_CACHE_SECONDS", "30")),
            format_sources=os.environ.get("FORMAT_SOURCES", ""),
            max_query_depth=int(os.environ.get("MAX_QUERY_DEPTH", "10")),
            max_query_aliases=int(os.environ.get("MAX_QUERY_ALIASES", "30")),
            max_query_tokens=int(os.environ.get("MAX_QUERY_TOKENS", "2000")),
            max_request_bytes=int(os.environ.get("MAX_REQUEST_BYTES", "1048576")),
            max_query_cost=int(os.environ.get("MAX_QUERY_COST", "5000")),
            query_budget_capacity=int(os.environ.get("QUERY_BUDGET_CAPACITY", "20000")),
            query_budget_leak_per_second=float(
                os.environ.get("QUERY_BUDGET_LEAK_PER_SECOND", "200")
            ),
            query_budget_partner_factor=int(os.environ.get("QUERY_BUDGET_PARTNER_FACTOR", "10")),
            request_timeout_seconds=float(os.environ.get("REQUEST_TIMEOUT_SECONDS", "10")),
            db_statement_timeout_ms=int(os.environ.get("DB_STATEMENT_TIMEOUT_MS", "5000")),
            outbox_mark_seconds=float(os.environ.get("OUTBOX_MARK_SECONDS", "0.2")),
            outbox_sweep_seconds=float(os.environ.get("OUTBOX_SWEEP_SECONDS", "10")),
            outbox_grace_seconds=float(os.environ.get("OUTBOX_GRACE_SECONDS", "30")),
            outbox_retention_days=int(os.environ.get("OUTBOX_RETENTION_DAYS", "7")),
            voucher_guess_limit=int(os.environ.get("VOUCHER_GUESS_LIMIT", "10")),
            voucher_guess_window_seconds=int(os.environ.get("VOUCHER_GUESS_WINDOW_SECONDS", "600")),
            voucher_undo_hours=int(os.environ.get("VOUCHER_UNDO_HOURS", "24")),
            webhooks_allow_private=_flag("WEBHOOKS_ALLOW_PRIVATE", False),
            webhooks_dispatch=_flag("WEBHOOKS_DISPATCH", True),
            webhooks_poll_seconds=float(os.environ.get("WEBHOOKS_POLL_SECONDS", "1")),
            webhooks_timeout_seconds=float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", "15")),
            webhooks_lease_seconds=float(os.environ.get("WEBHOOKS_LEASE_SECONDS", "60")),
            webhooks_concurrency=int(os.environ.get("WEBHOOKS_CONCURRENCY", "20")),
            webhooks_disable_after_days=int(os.environ.get("WEBHOOKS_DISABLE_AFTER_DAYS", "5")),
            points_expiring_warning_days=int(os.environ.get("POINTS_EXPIRING_WARNING_DAYS", "30")),
            tier_downgrade_warning_days=int(os.environ.get("TIER_DOWNGRADE_WARNING_DAYS", "30")),
            figures_cost_share_low=Decimal(os.environ.get("FIGURES_COST_SHARE_LOW", "0.03")),
            figures_cost_share_high=Decimal(os.environ.get("FIGURES_COST_SHARE_HIGH", "0.05")),
            abuse=AbusePolicy.from_env(os.environ),
            **_sign_in_settings(production),
            mall_payment_minutes=int(os.environ.get("MALL_PAYMENT_MINUTES", "15")),
            mall_auto_complete_days=int(os.environ.get("MALL_AUTO_COMPLETE_DAYS", "7")),
        )
