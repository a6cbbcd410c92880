"""A batch never raises, and only unipush's errors leave the client (issue 8, items 2 and 9), over the sandbox.

One bad pair in a ``send_many``/``stream`` (a plugin's ``prepare`` raising anything, or returning a
request the transport cannot send; no provider for the target; a ``dict`` where a ``Notification`` or a
``Target`` belongs; an item that is not a pair) becomes that item's failed ``SendResult`` and the other
pairs still go out. ``send()``/``render()`` raise one-line ``ValidationError``/``ConfigurationError``s
for the same causes, and a call wrong as a whole (``send_many(n, device)``) raises before sending.
Every test runs with both clients (the ``driver`` fixture of ``tests/test_send.py``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast

import pytest

from tests.fake_plugin import RelayDevice
from tests.test_send import Driver
from unipush import (
    ConfigurationError,
    Notification,
    Outcome,
    PreparedRequest,
    ProviderError,
    SendResult,
    Target,
    UnipushError,
    ValidationError,
)
from unipush.sandbox import Sandbox

N = Notification(title="Hello", body="World", deep_link="https://example.com/x")


@dataclass(frozen=True, slots=True)
class BrokenDevice(Target):
    """A target of the "broken" plugin; its token says how the plugin's ``prepare`` misbehaves."""

    provider: ClassVar[str] = "broken"
    token: str

    @property
    def key(self) -> str:
        """The token."""
        return self.token


# Requests no transport can send, by the token asking for them (``url``, ``method``, ``headers``).
UNUSABLE: dict[str, dict[str, Any]] = {
    "relative": {"url": "/send/abc"},
    "ftp": {"url": "ftp://broken.example/send"},
    "no-host": {"url": "https:///send"},
    "space": {"url": "https://broken.example/a b"},
    "garbage": {"url": "https://[::1/send"},
    "bad-port": {"url": "https://broken.example:99999/send"},
    "method": {"method": "PO ST"},
    "header-type": {"headers": {"x-count": 3}},
    "header-crlf": {"headers": {"x-note": "a\r\nx-injected: 1"}},
}


# Tokens whose request is fine and goes out (to ``base_url``), and whose ``authorize``/``parse`` then fail.
SENT = {"auth-runtime", "auth-none", "parse-crash", "parse-garbage"}


class Broken:
    """A plugin provider whose ``prepare``, ``authorize`` and ``parse`` fail in every way a third party's code can."""

    name = "broken"
    target_types: tuple[type[Target], ...] = (BrokenDevice,)

    def __init__(self, base_url: str = "https://broken.example") -> None:
        self.base_url = base_url

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        """Misbehave as ``target.token`` says."""
        how = cast(BrokenDevice, target).token
        if how == "runtime":
            raise RuntimeError("the plugin has a bug")
        if how == "value":
            raise ValueError("cannot render this")
        if how == "key":
            raise KeyError("missing")
        if how == "unicode":
            "\udfff".encode()
        if how == "none":
            return cast(PreparedRequest, None)
        fields: dict[str, Any] = {"url": "https://broken.example/send", "method": "POST", "headers": {}}
        if how in SENT:
            fields["url"] = f"{self.base_url}/broken/{how}"
        else:
            fields.update(UNUSABLE[how])
        return PreparedRequest(provider=self.name, target=target, body=b"{}", **fields)

    def authorize(self, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext) -> PreparedRequest:
        """Fails for the ``auth-*`` tokens."""
        how = cast(BrokenDevice, request.target).token
        if how == "auth-runtime":
            raise RuntimeError("the credential hook has a bug")
        if how == "auth-none":
            return cast(PreparedRequest, None)
        return request

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Fails for the ``parse-*`` tokens (a real answer came from the sandbox)."""
        how = cast(BrokenDevice, request.target).token
        if how == "parse-crash":
            raise KeyError("name")
        assert how == "parse-garbage", f"a request that should never be sent was: {how}"
        return cast(Outcome, "garbage")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[Driver]:
    sandbox.inbox.clear()
    sandbox.faults.clear()
    driver = Driver(request.param, sandbox, providers=[Broken(sandbox.fcm_url)])
    yield driver
    driver.close()


def _delivered(sandbox: Sandbox) -> set[str]:
    return {d.target for d in sandbox.inbox.all()}


def _failed(result: SendResult, kind: type[UnipushError], *words: str) -> None:
    assert not result.ok
    assert result.attempts == 0
    assert type(result.error) is kind, result.error
    text = str(result.error)
    assert "\n" not in text
    for word in words:
        assert word in text, text


def test_one_bad_pair_never_aborts_send_many(driver: Driver, sandbox: Sandbox) -> None:
    apns, fcm, subscription, apns2 = (
        sandbox.apns_device(),
        sandbox.fcm_device(),
        sandbox.subscribe(),
        sandbox.apns_device(),
    )
    dict_target = {"provider": "apns", "token": "ab" * 32}
    targets: list[Any] = [
        apns,
        BrokenDevice("runtime"),
        fcm,
        dict_target,
        BrokenDevice("relative"),
        subscription,
        RelayDevice("r-1"),  # a plugin's target, but no such provider configured
        BrokenDevice("value"),
        BrokenDevice("key"),
        BrokenDevice("unicode"),
        BrokenDevice("none"),
        apns2,
    ]
    batch = driver.send_many(N, targets)
    assert [r.target for r in batch] == targets  # one result per target, in input order
    assert [r.ok for r in batch] == [True, False, True, False, False, True, False, False, False, False, False, True]
    _failed(batch[1], ConfigurationError, "'broken'", "RuntimeError: the plugin has a bug")
    assert isinstance(cast(UnipushError, batch[1].error).__cause__, RuntimeError)
    _failed(batch[3], ValidationError, "target", "must be a unipush Target, got dict")
    _failed(batch[4], ConfigurationError, "'broken' prepared an unusable request", "relative")
    _failed(batch[6], ConfigurationError, "no provider configured for RelayDevice")
    _failed(batch[7], ValidationError, "'broken' could not render it", "ValueError: cannot render this")
    _failed(batch[8], ConfigurationError, "KeyError")
    _failed(batch[9], ValidationError, "UnicodeEncodeError")
    _failed(batch[10], ConfigurationError, "must return a PreparedRequest, got NoneType")
    assert "not a target" in repr(batch[3])  # a result holding a non-Target still has a repr
    assert _delivered(sandbox) == {apns.token, fcm.token, subscription.endpoint, apns2.token}


@pytest.mark.parametrize("how", sorted(UNUSABLE))
def test_a_request_no_transport_can_send_is_that_targets_result(driver: Driver, sandbox: Sandbox, how: str) -> None:
    good = sandbox.fcm_device()
    batch = driver.send_many(N, [BrokenDevice(how), good])
    kind = ValidationError if how == "header-crlf" else ConfigurationError
    _failed(batch[0], kind, "broken")
    assert "broken.example" not in str(batch[0].error)  # the URL is never quoted (it may hold a key)
    assert batch[1].ok
    assert _delivered(sandbox) == {good.token}


def test_stream_gives_every_item_a_result_whatever_it_is(driver: Driver, sandbox: Sandbox) -> None:
    apns, fcm, fcm2 = sandbox.apns_device(), sandbox.fcm_device(), sandbox.fcm_device()
    items: list[Any] = [
        (N, apns),
        ({"title": "Hello"}, fcm),  # a dict where the Notification belongs
        N,  # not a pair
        (N, apns, "extra"),  # not a pair either
        (N, BrokenDevice("runtime")),
        (N, "ab" * 32),  # a bare token where the Target belongs
        (N, fcm2),
    ]
    results = driver.stream(iter(items))
    assert len(results) == len(items)
    by_target = {id(r.target): r for r in results}
    assert by_target[id(apns)].ok
    assert by_target[id(fcm2)].ok
    _failed(by_target[id(fcm)], ValidationError, "notification: must be a unipush Notification, got dict")
    assert "Notification.from_dict" in str(by_target[id(fcm)].error)
    _failed(by_target[id(items[2])], ValidationError, "pairs: each item must be a (notification, target) pair")
    _failed(by_target[id(items[3])], ValidationError, "got tuple")
    _failed(next(r for r in results if r.provider == "broken"), ConfigurationError, "RuntimeError")
    _failed(by_target[id(items[5][1])], ValidationError, "target: must be a unipush Target, got str")
    assert _delivered(sandbox) == {apns.token, fcm2.token}


def test_a_plugins_failing_credential_hook_or_decoder_is_that_targets_result(driver: Driver, sandbox: Sandbox) -> None:
    good = sandbox.apns_device()
    targets: list[Any] = [BrokenDevice(how) for how in sorted(SENT)] + [good]
    batch = driver.send_many(N, targets)
    assert [r.target for r in batch] == targets
    by_token = {r.target.key: r for r in batch}
    _failed(by_token["auth-runtime"], ConfigurationError, "failed to authorize", "RuntimeError: the credential hook")
    _failed(by_token["auth-none"], ConfigurationError, "authorize must return a PreparedRequest, got NoneType")
    for how in ("parse-crash", "parse-garbage"):  # sent and answered (the sandbox's 404), but not decodable
        result = by_token[how]
        assert not result.ok
        assert result.attempts == 1  # final: not retried
        assert type(result.error) is ProviderError
        assert result.status_code == result.error.status_code == 404
        assert "could not decode its answer (HTTP 404" in str(result.error)
    assert "KeyError" in str(by_token["parse-crash"].error)
    assert "parse returned str, not an Outcome" in str(by_token["parse-garbage"].error)
    assert by_token[good.token].ok
    with pytest.raises(ConfigurationError, match="RuntimeError"):
        driver.send(N, BrokenDevice("auth-runtime"))  # send() raises it: a unipush error, not the plugin's


# -- send() and render(): one-line unipush errors, raised -----------------------------------------


def _send(driver: Driver, n: Any, target: Any) -> SendResult:
    return driver.send(cast(Notification, n), cast(Target, target))


def _render(driver: Driver, n: Any, target: Any) -> PreparedRequest:
    return driver.client.render(cast(Notification, n), cast(Target, target))


CASES: list[tuple[Callable[[Sandbox], tuple[object, object]], type[UnipushError], str]] = [
    (lambda s: (N, BrokenDevice("runtime")), ConfigurationError, "RuntimeError: the plugin has a bug"),
    (lambda s: (N, BrokenDevice("value")), ValidationError, "ValueError: cannot render this"),
    (lambda s: (N, BrokenDevice("relative")), ConfigurationError, "url must be an absolute https:// or http:// URL"),
    (lambda s: (N, BrokenDevice("ftp")), ConfigurationError, "not 'ftp'"),
    (lambda s: (N, BrokenDevice("garbage")), ConfigurationError, "url must have a host"),
    (lambda s: ({"title": "Hi"}, s.apns_device()), ValidationError, "notification: must be a unipush Notification"),
    (lambda s: (N, {"token": "ab" * 32}), ValidationError, "target: must be a unipush Target, got dict"),
    (lambda s: (N, RelayDevice("r")), ConfigurationError, "no provider configured for RelayDevice"),
]


@pytest.mark.parametrize(("make", "kind", "words"), CASES)
def test_send_and_render_raise_only_one_line_unipush_errors(
    driver: Driver,
    sandbox: Sandbox,
    make: Callable[[Sandbox], tuple[object, object]],
    kind: type[UnipushError],
    words: str,
) -> None:
    n, target = make(sandbox)
    for call in (_send, _render):
        with pytest.raises(UnipushError) as caught:
            call(driver, n, target)
        assert type(caught.value) is kind
        assert words in str(caught.value)
        assert "\n" not in str(caught.value)
    assert not sandbox.inbox.all()


def _stream_call(driver: Driver, pairs: object) -> None:
    if driver.sync is not None:
        driver.sync.stream(cast(Any, pairs))
    else:
        driver.async_client.stream(cast(Any, pairs))


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda d, s: d.send_many(N, cast(Any, s.apns_device())),
            "targets: send_many takes an iterable of targets, got one ApnsDevice",
        ),
        (lambda d, s: d.send_many(N, cast(Any, None)), "targets: send_many takes an iterable of targets, got NoneType"),
        (lambda d, s: d.send_many(N, cast(Any, "ab" * 32)), "got str"),
        (
            lambda d, s: d.send_many(cast(Any, {"title": "Hi"}), [s.apns_device()]),
            "notification: send_many takes one Notification, got dict",
        ),
        (
            lambda d, s: _stream_call(d, (N, s.apns_device())),
            "pairs: stream takes an iterable of (notification, target) pairs, got one pair",
        ),
        (lambda d, s: _stream_call(d, 42), "got int"),
    ],
)
def test_a_batch_call_wrong_as_a_whole_raises_before_sending(
    driver: Driver, sandbox: Sandbox, call: Callable[[Driver, Sandbox], object], words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        call(driver, sandbox)
    assert words in str(caught.value)
    assert not sandbox.inbox.all()


def test_the_async_stream_takes_an_async_iterable_with_bad_items(sandbox: Sandbox) -> None:
    good = sandbox.fcm_device()

    async def pairs() -> Any:
        yield N, good
        yield N, BrokenDevice("key")
        yield "not a pair"

    async def main() -> list[SendResult]:
        async with sandbox.async_client(providers=[Broken()]) as client:
            return [r async for r in client.stream(pairs())]

    results = asyncio.run(main())
    assert sorted(r.ok for r in results) == [False, False, True]
    assert sorted(type(r.error).__name__ for r in results if r.error) == ["ConfigurationError", "ValidationError"]
    assert _delivered(sandbox) >= {good.token}
