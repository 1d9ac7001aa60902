"""The WeChat client against a stand-in speaking WeChat's shapes on loopback: users and phone
numbers, refusals, safe retries, the shared access token and the circuit breaker, each counted
on the server's side."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest

from app.sources.breaker import BreakerState
from app.sources.wechat import WeChatClient, WeChatConfig, WeChatRefused, WeChatUnavailable
from tests.fake_wechat import APPID, SECRET, FakeWeChat, serving


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def wechat():
    fake = FakeWeChat()
    async with serving(fake) as url:  # type: ignore[arg-type]
        fake.url = url
        yield fake


@pytest.fixture
def redis():
    return fakeredis.FakeAsyncRedis(decode_responses=True)


def client_for(fake, redis, **options) -> tuple[WeChatClient, Sleeps]:
    sleeps = Sleeps()
    config = WeChatConfig(
        appid=options.pop("appid", APPID),
        secret=options.pop("secret", SECRET),
        api_base=fake.url,
        **{"timeout": 5.0, **options},
    )
    return WeChatClient(config, redis=redis, prefix="t:", sleep=sleeps), sleeps


async def test_a_login_code_names_the_wechat_user_and_the_session_key_is_dropped(wechat, redis):
    client, _ = client_for(wechat, redis)
    user = await client.user(wechat.login("o-alice", unionid="u-alice"))
    assert (user.openid, user.unionid) == ("o-alice", "u-alice")
    assert wechat.session_keys and wechat.session_keys[0] not in repr(user)
    assert not hasattr(user, "session_key")
    assert SECRET not in repr(client.config)


async def test_a_forged_or_used_code_is_refused_and_not_retried(wechat, redis):
    client, _ = client_for(wechat, redis)
    with pytest.raises(WeChatRefused) as forged:
        await client.user("not-a-code")
    assert (forged.value.field, forged.value.errcode) == ("code", 40029)
    code = wechat.login("o-bob")
    await client.user(code)
    with pytest.raises(WeChatRefused) as used:
        await client.user(code)
    assert used.value.errcode == 40163
    assert wechat.hits["jscode2session"] == 3
    assert client.breaker.state is BreakerState.CLOSED  # a bad code is not WeChat failing


async def test_system_busy_is_retried_with_backoff(wechat, redis):
    client, sleeps = client_for(wechat, redis, retries=2, backoff=0.1)
    wechat.fail("jscode2session", -1, times=2)
    assert (await client.user(wechat.login("o-carol"))).openid == "o-carol"
    assert wechat.hits["jscode2session"] == 3
    assert sleeps.delays == [0.1, 0.2]


async def test_the_rate_limit_is_unavailable_at_once(wechat, redis):
    client, _ = client_for(wechat, redis, retries=2)
    wechat.fail("jscode2session", 45011)
    with pytest.raises(WeChatUnavailable, match="45011"):
        await client.user(wechat.login("o-dan"))
    assert wechat.hits["jscode2session"] == 1


async def test_a_login_that_times_out_is_not_sent_again(wechat, redis):
    # WeChat may have used the code before the answer was lost: a retry would be refused.
    client, _ = client_for(wechat, redis, retries=2, timeout=0.3)
    wechat.fail("jscode2session", "timeout")
    with pytest.raises(WeChatUnavailable, match="timeout"):
        await client.user(wechat.login("o-erin"))
    assert wechat.hits["jscode2session"] == 1


async def test_fetching_the_access_token_is_retried_on_a_bad_gateway(wechat, redis):
    client, sleeps = client_for(wechat, redis, retries=1)
    wechat.fail("token", "HTTP 502")
    assert (await client.access_token()).startswith("AT_")
    assert wechat.hits["token"] == 2 and len(sleeps.delays) == 1


async def test_a_phone_code_gives_the_number_and_the_token_is_kept(wechat, redis):
    client, _ = client_for(wechat, redis)
    assert await client.phone_number(wechat.phone("13912345678")) == "13912345678"
    assert await client.phone_number(wechat.phone("13912345679")) == "13912345679"
    assert wechat.hits["token"] == 1
    assert await redis.ttl("t:wechat:access-token:" + APPID) > 6000  # 7200 less the margin
    with pytest.raises(WeChatRefused) as refused:
        await client.phone_number("used-or-forged")
    assert (refused.value.field, refused.value.errcode) == ("phoneCode", 40029)


async def test_a_stale_access_token_is_replaced_once_and_the_call_retried(wechat, redis):
    client, _ = client_for(wechat, redis)
    await client.phone_number(wechat.phone("13912345678"))
    wechat.expire_tokens()
    assert await client.phone_number(wechat.phone("13912345670")) == "13912345670"
    assert wechat.hits["token"] == 2
    assert wechat.hits["getuserphonenumber"] == 3


async def test_workers_sharing_redis_fetch_the_access_token_once(wechat, redis):
    wechat.token_delay = 0.2  # the first fetch is still under way when the others ask
    workers = [client_for(wechat, redis)[0] for _ in range(3)]
    codes = [wechat.phone(f"139123456{i:02d}") for i in range(9)]
    numbers = await asyncio.gather(
        *(workers[i % 3].phone_number(code) for i, code in enumerate(codes))
    )
    assert sorted(numbers) == sorted(f"139123456{i:02d}" for i in range(9))
    assert wechat.hits["token"] == 1


async def test_a_wrong_secret_is_unavailable_not_a_bad_code(wechat, redis):
    client, _ = client_for(wechat, redis, secret="wrong")
    with pytest.raises(WeChatUnavailable):
        await client.user(wechat.login("o-fay"))


async def test_the_breaker_opens_after_failures_and_spares_wechat(wechat, redis):
    client, _ = client_for(wechat, redis, retries=0, failure_threshold=2, reset_after=60)
    wechat.fail("jscode2session", 45011, times=2)
    for _ in range(2):
        with pytest.raises(WeChatUnavailable):
            await client.user(wechat.login("o-gus"))
    assert client.breaker.state is BreakerState.OPEN
    with pytest.raises(WeChatUnavailable, match="circuit"):
        await client.user(wechat.login("o-gus"))
    assert wechat.hits["jscode2session"] == 2
