"""A development stand-in for WeChat's login, used when no mini-program is configured
(WECHAT_APPID unset) outside production, so GraphiQL can show the whole sign-in flow:

- any login `code` is a WeChat user of its own (openid `dev_<code>`); the code `invalid` is
  refused, as WeChat refuses a forged or used code;
- a `phoneCode` that is a mobile number shares that number; any other phone code shares the
  demo showcase member's (13800138000), so a first sign-in binds to a seeded member.

Never used when an app is configured, and refused in production (app.bootstrap).
"""

from __future__ import annotations

import re

from app.sources.wechat import WeChatRefused, WeChatUser

SHOWCASE_PHONE = "13800138000"  # the demo seed's showcase member (app/demo/people.py)


class DevelopmentWeChat:
    implementation = "development"
    appid = "development"

    async def user(self, code: str) -> WeChatUser:
        code = code.strip()
        if not code or code == "invalid" or len(code) > 60:
            raise WeChatRefused("code", 40029, "invalid code")
        return WeChatUser(openid=f"dev_{code}")

    async def phone_number(self, phone_code: str) -> str:
        if phone_code.strip() == "invalid":
            raise WeChatRefused("phoneCode", 40029, "invalid code")
        number = phone_code.strip()
        return number if re.fullmatch(r"1[3-9][0-9]{9}", number) else SHOWCASE_PHONE

    async def aclose(self) -> None:
        return None
