"""A stand-in for WeChat's servers on loopback, speaking the documented requests and answers
of the mini-program login (jscode2session), the access token (cgi-bin/token with
client_credential, cgi-bin/stable_token) and the phone number (wxa/business/
getuserphonenumber), including WeChat's failures: a bad or used code (40029, 40163), the app's
rate limit (45011), system busy (-1), a stale access token (40001), a wrong secret (40125), and
an answer that never comes (a timeout). It counts what reached it."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_pms import serving

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"


@dataclass
class WeChatUser:
    openid: str
    unionid: str | None = None


@dataclass
class FakeWeChat:
    """Register login codes (`login`) and phone codes (`phone`); queue failures per call with
    `fail(path, answer, times)`, where answer is an errcode, "timeout" or an HTTP status."""

    logins: dict[str, WeChatUser] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    failures: dict[str, list[int | str]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)  # issued access tokens, newest last
    hits: Counter = field(default_factory=Counter)
    session_keys: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    token_delay: float = 0.0

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/sns/jscode2session", self.jscode2session),
                Route("/cgi-bin/token", self.token),
                Route("/cgi-bin/stable_token", self.stable_token, methods=["POST"]),
                Route("/wxa/business/getuserphonenumber", self.phone_number, methods=["POST"]),
            ]
        )

    def login(self, openid: str, unionid: str | None = None) -> str:
        """A fresh wx.login code for this WeChat user."""
        code = "0" + secrets.token_hex(15)
        self.logins[code] = WeChatUser(openid, unionid)
        return code

    def phone(self, number: str) -> str:
        """A fresh phone-number button code sharing this number."""
        code = "p" + secrets.token_hex(15)
        self.phones[code] = number
        return code

    def fail(self, path: str, answer: int | str, times: int = 1) -> None:
        self.failures.setdefault(path, []).extend([answer] * times)

    def expire_tokens(self) -> None:
        """WeChat forgets every access token it issued (as after a refresh elsewhere)."""
        self.tokens.clear()

    async def _failure(self, path: str) -> Response | None:
        queued = self.failures.get(path)
        if not queued:
            return None
        answer = queued.pop(0)
        if answer == "timeout":
            await self.release.wait()
            return JSONResponse({"errcode": -1, "errmsg": "too late"})
        if isinstance(answer, str) and answer.startswith("HTTP "):
            return Response("<html>bad gateway</html>", status_code=int(answer[5:]))
        return _error(int(answer))

    async def jscode2session(self, request: Request) -> Response:
        self.hits["jscode2session"] += 1
        q = request.query_params
        if q.get("grant_type") != "authorization_code":
            return _error(40002)
        if q.get("appid") != APPID:
            return _error(40013)
        if q.get("secret") != SECRET:
            return _error(40125)
        failure = await self._failure("jscode2session")
        if failure is not None:
            return failure
        code = q.get("js_code", "")
        if code in self.used:
            return _error(40163)
        user = self.logins.get(code)
        if user is None:
            return _error(40029)
        self.used.add(code)
        session_key = secrets.token_urlsafe(16)
        self.session_keys.append(session_key)
        answer = {"openid": user.openid, "session_key": session_key}
        if user.unionid:
            answer["unionid"] = user.unionid
        return JSONResponse(answer)

    async def _issue_token(self, appid: str | None, secret: str | None) -> Response:
        if appid != APPID:
            return _error(40013)
        if secret != SECRET:
            return _error(40125)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        token = "AT_" + secrets.token_hex(20)
        self.tokens.append(token)
        return JSONResponse({"access_token": token, "expires_in": 7200})

    async def token(self, request: Request) -> Response:
        self.hits["token"] += 1
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return _error(40002)
        failure = await self._failure("token")
        if failure is not None:
            return failure
        return await self._issue_token(q.get("appid"), q.get("secret"))

    async def stable_token(self, request: Request) -> Response:
        self.hits["stable_token"] += 1
        body = await request.json()
        if body.get("grant_type") != "client_credential":
            return _error(40002)
        if self.tokens and not body.get("force_refresh"):
            return JSONResponse({"access_token": self.tokens[-1], "expires_in": 7200})
        return await self._issue_token(body.get("appid"), body.get("secret"))

    async def phone_number(self, request: Request) -> Response:
        self.hits["getuserphonenumber"] += 1
        if request.query_params.get("access_token") not in self.tokens:
            return _error(40001)
        failure = await self._failure("getuserphonenumber")
        if failure is not None:
            return failure
        code = (await request.json()).get("code", "")
        number = self.phones.pop(code, None)
        if number is None:
            return _error(40029)
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": number,
                    "purePhoneNumber": number,
                    "countryCode": "86",
                    "watermark": {"timestamp": 1700000000, "appid": APPID},
                },
            }
        )


MESSAGES = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
}


def _error(errcode: int) -> JSONResponse:
    """WeChat answers errors with HTTP 200 and an errcode."""
    message = MESSAGES.get(errcode, "error")
    return JSONResponse({"errcode": errcode, "errmsg": f"{message}, rid: {secrets.token_hex(4)}"})


__all__ = ["APPID", "SECRET", "FakeWeChat", "serving"]
