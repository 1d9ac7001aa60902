"""WeChat's mini-program login, reached over HTTP: a WeChat user from a `wx.login` code, and
the phone number a member shared with the phone-number button. (docs/sign-in.md)

The calls are WeChat's documented ones, against WECHAT_API_BASE:

    GET  /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
         -> {"openid", "session_key", "unionid"?} or {"errcode", "errmsg"}
    GET  /cgi-bin/token?grant_type=client_credential&appid&secret
         -> {"access_token", "expires_in"} or {"errcode", "errmsg"}
    POST /wxa/business/getuserphonenumber?access_token=...  {"code": ...}
         -> {"errcode": 0, "phone_info": {"phoneNumber", "purePhoneNumber", "countryCode"}}

What a failure means for the member: a code WeChat refuses (invalid, already used, a user it
blocks) is `WeChatRefused`; WeChat busy, rate limiting the app, misconfigured, slow or down is
`WeChatUnavailable`. Retries only where they cannot spend a code twice: a login or phone code
is single-use, so those calls are retried when the request never left (no connection) or when
WeChat answers -1 (busy, "try again"); a read timeout is not retried, since WeChat may have
used the code. Fetching the access token has no such input and is retried on any failure.
A circuit breaker turns a failing WeChat into immediate `WeChatUnavailable` answers until its
cool-down.

The access token (valid two hours) is kept in Redis for all workers until shortly before it
expires; one worker at a time fetches a new one (a Redis lock), the others wait for it, since
each fetch invalidates the token before it after a few minutes. A token WeChat says is invalid
(40001, 40014, 42001) is replaced once and the call retried.

The session key WeChat returns with a login is dropped on arrival: the gateway needs none of
what it decrypts, so it is never stored, returned or logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from redis.exceptions import RedisError

from app.sources.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)

REFUSED_CODES = {
    40029: "invalid code",
    40163: "code already used",
    40226: "user blocked by WeChat",
}
BUSY = -1  # "system busy, try again"
RATE_LIMITED = 45011  # the app's call quota for the minute is spent
STALE_TOKEN_CODES = {40001, 40014, 42001}  # invalid, malformed or expired access token
CONFIGURATION_CODES = {40013, 40125, 41002, 41004, 40164}  # appid, secret, IP allow-list

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WeChatRefused(Exception):
    """WeChat refused the code (`field`: "code" or "phoneCode")."""

    def __init__(self, field: str, errcode: int, reason: str) -> None:
        super().__init__(f"WeChat refused the {field}: {reason} ({errcode})")
        self.field = field
        self.errcode = errcode


class WeChatUnavailable(Exception):
    """WeChat could not answer now (busy, rate limited, misconfigured, slow or down)."""


@dataclass(frozen=True)
class WeChatUser:
    """Who a login code belongs to: the openid in this mini-program, and the unionid across
    the group's WeChat apps when the app is in an open-platform account."""

    openid: str
    unionid: str | None = None


@dataclass(frozen=True)
class WeChatConfig:
    appid: str
    secret: str
    api_base: str = "https://api.weixin.qq.com"
    timeout: float = 3.0
    retries: int = 2
    backoff: float = 0.2
    failure_threshold: int = 5
    reset_after: float = 30.0
    token_margin_seconds: int = 300  # fetch a new access token this long before it expires
    token_wait_seconds: float = 5.0  # how long a worker waits for another's fetch

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"WeChatConfig(appid={self.appid!r}, api_base={self.api_base!r})"


class WeChatClient:
    """The mini-program's WeChat calls, with timeouts, safe retries and a circuit breaker."""

    implementation = "http"

    def __init__(
        self,
        config: WeChatConfig,
        *,
        redis: Any,
        prefix: str,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        record: Callable[[str, str], None] | None = None,
        on_breaker: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.config = config
        self.redis = redis
        self.token_key = f"{prefix}wechat:access-token:{config.appid}"
        self.client = client or httpx.AsyncClient()
        self.sleep = sleep
        self.record = record or (lambda unit, outcome: None)
        self.breaker = CircuitBreaker(
            failure_threshold=config.failure_threshold,
            reset_after=config.reset_after,
            clock=clock,
            on_change=(lambda state: on_breaker("WECHAT", state)) if on_breaker else None,
        )

    @property
    def appid(self) -> str:
        return self.config.appid

    async def user(self, code: str) -> WeChatUser:
        """jscode2session: the WeChat user a `wx.login` code belongs to."""
        body = await self._call(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.config.appid,
                "secret": self.config.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
            field="code",
            single_use=True,
        )
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            self._failed("contract")
            raise WeChatUnavailable("jscode2session answered without an openid")
        unionid = body.get("unionid")
        return WeChatUser(openid=openid, unionid=unionid if isinstance(unionid, str) else None)

    async def phone_number(self, phone_code: str) -> str:
        """getuserphonenumber: the number the member shared (purePhoneNumber, a mainland
        number without its country code; another country's as +<code><number>)."""
        token = await self.access_token()
        for renewed in (False, True):
            try:
                body = await self._call(
                    "POST",
                    "/wxa/business/getuserphonenumber",
                    params={"access_token": token},
                    json={"code": phone_code},
                    field="phoneCode",
                    single_use=True,
                )
            except _StaleToken:
                if renewed:
                    raise WeChatUnavailable("WeChat refused a fresh access token") from None
                token = await self.access_token(stale=token)
                continue
            info = body.get("phone_info")
            number = info.get("purePhoneNumber") if isinstance(info, dict) else None
            if not isinstance(number, str) or not number:
                self._failed("contract")
                raise WeChatUnavailable("getuserphonenumber answered without a number")
            country = str(info.get("countryCode") or "86")
            return number if country == "86" else f"+{country}{number}"
        raise AssertionError("unreachable")

    async def access_token(self, stale: str | None = None) -> str:
        """The app's access token from Redis, or fetched by one worker at a time; `stale`: a
        token WeChat just refused, never handed out again."""
        try:
            return await self._shared_token(stale)
        except RedisError:
            log.warning("WeChat access token fetched without Redis (unshared)")
            token, _ = await self._fetch_token()
            return token

    async def _shared_token(self, stale: str | None) -> str:
        wait = 0.05
        deadline = time.monotonic() + self.config.token_wait_seconds
        while True:
            cached = await self.redis.get(self.token_key)
            if cached and cached != stale:
                return str(cached)
            holder = uuid.uuid4().hex
            lock = self.token_key + ":refreshing"
            if await self.redis.set(lock, holder, nx=True, px=int(self.config.timeout * 3000)):
                try:
                    cached = await self.redis.get(self.token_key)
                    if cached and cached != stale:  # another worker fetched it meanwhile
                        return str(cached)
                    token, expires_in = await self._fetch_token()
                    keep = max(expires_in - self.config.token_margin_seconds, 60)
                    await self.redis.set(self.token_key, token, ex=keep)
                    return token
                finally:
                    await self.redis.eval(_RELEASE, 1, lock, holder)
            if time.monotonic() >= deadline:
                raise WeChatUnavailable("another worker's access token fetch did not finish")
            await asyncio.sleep(wait)
            wait = min(wait * 2, 0.5)

    async def _fetch_token(self) -> tuple[str, int]:
        body = await self._call(
            "GET",
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.config.appid,
                "secret": self.config.secret,
            },
            field="token",
            single_use=False,
        )
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            self._failed("contract")
            raise WeChatUnavailable("cgi-bin/token answered without a token")
        return token, expires_in

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        field: str,
        single_use: bool,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One logical call: the breaker, attempts with backoff, WeChat's errcode read."""
        if not self.breaker.allow():
            self.record("WECHAT", "rejected")
            raise WeChatUnavailable("WeChat is failing; the circuit is open")
        url = self.config.api_base.rstrip("/") + path
        reason = "unknown"
        for attempt in range(self.config.retries + 1):
            if attempt:
                await self.sleep(self.config.backoff * 2 ** (attempt - 1))
            try:
                response = await self.client.request(
                    method, url, params=params, json=json, timeout=self.config.timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout):
                reason = "connection error"  # never sent: safe to try again
                self.record("WECHAT", "retry")
                continue
            except httpx.TimeoutException:
                reason = "timeout"
                if single_use:
                    break  # WeChat may have used the code: another try would be refused
                self.record("WECHAT", "retry")
                continue
            except httpx.TransportError:
                reason = "transport error"
                if single_use:
                    break
                self.record("WECHAT", "retry")
                continue
            if response.status_code >= 500:
                reason = f"HTTP {response.status_code}"
                if single_use:
                    break
                self.record("WECHAT", "retry")
                continue
            body = self._json(response)
            errcode = body.get("errcode") or 0
            if errcode == 0:
                self.breaker.record_success()
                self.record("WECHAT", "ok")
                return body
            if errcode == BUSY:
                reason = "WeChat busy (-1)"
                self.record("WECHAT", "retry")
                continue
            if errcode in REFUSED_CODES and field != "token":
                self.breaker.record_success()  # WeChat answered; the code was bad
                self.record("WECHAT", "refused")
                raise WeChatRefused(field, errcode, REFUSED_CODES[errcode])
            if errcode in STALE_TOKEN_CODES and field == "phoneCode":
                self.breaker.record_success()  # WeChat answered; the token was old
                self.record("WECHAT", "stale-token")
                raise _StaleToken()
            if errcode == RATE_LIMITED:
                self._failed("rate-limited")
                raise WeChatUnavailable("WeChat rate limits this app (45011); retry shortly")
            if errcode in CONFIGURATION_CODES:
                log.error("WeChat refused the app's configuration: errcode %s", errcode)
            self._failed("error")
            raise WeChatUnavailable(f"WeChat answered errcode {errcode}")
        self._failed("timeout" if reason == "timeout" else "error")
        raise WeChatUnavailable(f"WeChat did not answer: {reason}")

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or response.status_code >= 400:
            self._failed("contract")
            raise WeChatUnavailable(f"WeChat answered HTTP {response.status_code} without JSON")
        return body

    def _failed(self, outcome: str) -> None:
        self.breaker.record_failure()
        self.record("WECHAT", outcome)

    async def aclose(self) -> None:
        await self.client.aclose()


class _StaleToken(Exception):
    """WeChat refused the access token (it was replaced or expired): fetch a new one."""
