"""Safe pruning: a misconfigured client's "every token is bad" answers are not reported as dead tokens.

The rule (``PruningGuard``) is tested as a pure object first; then both clients, over the sandbox's
real sockets, through ``send``, ``send_many`` and ``stream``: a storm of ``BadDeviceToken`` /
``DeviceTokenNotForTopic`` / ``SENDER_ID_MISMATCH`` reports nothing dead and fires no callback, while a
few genuine ``BadDeviceToken`` among successes, and ``Unregistered`` even in a storm, still are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.test_send import Driver
from unipush import (
    ApnsReason,
    ConfigurationError,
    FcmErrorCode,
    InvalidTokenError,
    Notification,
    PreparedRequest,
    PruningGuard,
    SendResult,
    Target,
)
from unipush._pruning import DEFAULT_SUSPECTS
from unipush.apns import ApnsDevice
from unipush.sandbox import Sandbox

N = Notification(title="Hello", body="World", deep_link="https://example.com/x")


# -- the rule, pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "suspicious", "answers", "trusted"),
    [
        (0, 1, 1, False),  # the very first answer: nothing shows the configuration works
        (0, 1, 5, False),  # other failures, no success: still nothing shows it
        (1, 1, 2, True),  # one success, one bad token: half, at the limit
        (1, 2, 3, False),  # they outnumber the rest
        (97, 3, 100, True),  # a few genuine bad tokens among successes
        (5, 95, 100, False),  # a storm with a few successes (developers' devices in a production table)
        (0, 0, 0, False),
    ],
)
def test_the_rule(successes: int, suspicious: int, answers: int, trusted: bool) -> None:
    assert PruningGuard().trusts(successes=successes, suspicious=suspicious, answers=answers) is trusted


def test_tuned_rule() -> None:
    lenient = PruningGuard(min_successes=0, max_suspicious_share=1.0)
    assert lenient.trusts(successes=0, suspicious=1, answers=1)
    strict = PruningGuard(min_successes=10, max_suspicious_share=0.05)
    assert not strict.trusts(successes=9, suspicious=0, answers=10)
    assert strict.trusts(successes=95, suspicious=5, answers=100)
    assert not strict.trusts(successes=94, suspicious=6, answers=100)


@pytest.mark.parametrize(
    "settings",
    [
        {"window": 0},
        {"window": 1.5},
        {"min_successes": -1},
        {"window": 5, "min_successes": 6},
        {"max_suspicious_share": 1.5},
        {"max_suspicious_share": True},
        {"suspects": {"BadDeviceToken": "x"}},
    ],
)
def test_settings_are_checked(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="PruningGuard"):
        PruningGuard(**settings)


def test_the_client_setting_is_checked(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError, match="pruning_guard"):
        sandbox.client(pruning_guard=0.5)


def answer(reason: object | None, *, provider: str = "apns", ok: bool = False, dead: bool = True) -> SendResult:
    target = ApnsDevice("ab" * 32)
    error = None if ok else InvalidTokenError(f"{reason}", provider=provider, status_code=400, reason=reason)
    return SendResult(
        ok=ok,
        target=target,
        provider=provider,
        status_code=200 if ok else 400,
        error=error,
        reason=reason,
        token_invalid=dead and not ok,
    )


def request(topic: str) -> PreparedRequest:
    target = ApnsDevice("ab" * 32)
    return PreparedRequest(
        provider="apns",
        target=target,
        method="POST",
        url="https://x/3/device/ab",
        headers={"apns-topic": topic},
        body=b"",
    )


def test_the_watch_holds_a_storm_and_trusts_answers_among_successes() -> None:
    watch = PruningGuard(window=10).watch()
    app = request("com.example.app")
    storm = [watch.review(app, answer(ApnsReason.BAD_DEVICE_TOKEN)) for _ in range(5)]
    assert [r.token_invalid for r in storm] == [False] * 5
    first = storm[0].error
    assert isinstance(first, ConfigurationError)
    assert isinstance(first.__cause__, InvalidTokenError)
    assert "wrong APNs environment" in str(first)
    assert "before any send through this configuration succeeded" in str(first)
    assert storm[0].reason is ApnsReason.BAD_DEVICE_TOKEN
    assert storm[0].invalidated_at is None

    # The configuration is fixed: successes fill the window, and a lone bad token is believed again.
    for _ in range(10):
        assert watch.review(app, answer(None, ok=True)).ok
    trusted = watch.review(app, answer(ApnsReason.BAD_DEVICE_TOKEN))
    assert trusted.token_invalid
    assert isinstance(trusted.error, InvalidTokenError)

    # Answers for one APNs topic say nothing about another (a per-notification topic can be the wrong one).
    other = watch.review(request("com.example.other"), answer(ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC))
    assert not other.token_invalid
    assert "wrong topic" in str(other.error)


def test_trusted_reasons_and_other_answers_pass_through() -> None:
    watch = PruningGuard().watch()
    app = request("com.example.app")
    gone = answer(ApnsReason.UNREGISTERED)
    assert watch.review(app, gone) is gone  # 410: always a dead token, even with no success yet
    malformed = answer(FcmErrorCode.INVALID_ARGUMENT, provider="fcm")
    assert watch.review(None, malformed) is malformed
    no_answer = SendResult(ok=False, target=ApnsDevice("ab" * 32), provider="apns", status_code=None)
    assert watch.review(app, no_answer) is no_answer
    assert set(DEFAULT_SUSPECTS) == {
        ("apns", "BadDeviceToken"),
        ("apns", "DeviceTokenNotForTopic"),
        ("fcm", "SENDER_ID_MISMATCH"),
    }


def test_a_plugin_reason_can_be_watched() -> None:
    guard = PruningGuard(suspects={**DEFAULT_SUSPECTS, ("expo", "InvalidCredentials"): "the wrong Expo project"})
    result = guard.watch().review(None, answer("InvalidCredentials", provider="expo"))
    assert not result.token_invalid
    assert "the wrong Expo project" in str(result.error)


# -- over the sandbox, both clients --------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture(params=["sync", "async"])
def make_driver(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[Callable[..., Driver]]:
    sandbox.inbox.clear()
    sandbox.faults.clear()
    drivers: list[Driver] = []

    def make(**kwargs: Any) -> Driver:
        drivers.append(Driver(request.param, sandbox, **kwargs))
        return drivers[-1]

    yield make
    for driver in drivers:
        driver.close()
    sandbox.faults.clear()


def deliver(driver: Driver, how: str, targets: list[Target]) -> list[SendResult]:
    if how == "send":
        return [driver.send(N, t) for t in targets]
    if how == "send_many":
        return list(driver.send_many(N, targets))
    return driver.stream(iter([(N, t) for t in targets]))


def held_for(results: list[SendResult], words: str) -> bool:
    return all(
        not r.ok and not r.token_invalid and isinstance(r.error, ConfigurationError) and words in str(r.error)
        for r in results
    )


@pytest.mark.parametrize("how", ["send", "send_many", "stream"])
def test_a_wrong_environment_reports_no_token_dead(
    make_driver: Callable[..., Driver], sandbox: Sandbox, how: str
) -> None:
    driver = make_driver()
    sandbox.fail(400, provider="apns", reason="BadDeviceToken", times=None)  # what the other environment says
    devices: list[Target] = [sandbox.apns_device() for _ in range(30)]
    results = deliver(driver, how, devices)
    assert len(results) == 30
    assert {r.reason for r in results} == {ApnsReason.BAD_DEVICE_TOKEN}
    assert held_for(results, "wrong APNs environment")
    assert driver.invalid == []  # on_invalid_token never fired


def test_a_wrong_topic_reports_no_token_dead(make_driver: Callable[..., Driver], sandbox: Sandbox) -> None:
    driver = make_driver()
    # The emulator's own check: these tokens belong to another app than the client's topic.
    devices: list[Target] = [sandbox.apns_device(topic="com.example.other") for _ in range(20)]
    batch = driver.send_many(N, devices)
    assert {r.reason for r in batch} == {ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC}
    assert held_for(list(batch), "wrong topic")
    assert batch.invalid_tokens == []
    assert driver.invalid == []


def test_another_firebase_project_reports_no_token_dead(make_driver: Callable[..., Driver], sandbox: Sandbox) -> None:
    driver = make_driver()
    sandbox.fail(403, provider="fcm", times=None)  # 403 PERMISSION_DENIED, FcmError SENDER_ID_MISMATCH
    devices: list[Target] = [sandbox.fcm_device() for _ in range(20)]
    results = driver.stream(iter([(N, t) for t in devices]))
    assert {r.reason for r in results} == {FcmErrorCode.SENDER_ID_MISMATCH}
    assert held_for(results, "another Firebase project")
    assert driver.invalid == []


@pytest.mark.parametrize("how", ["send_many", "stream"])
def test_a_few_bad_tokens_among_successes_are_still_dead(
    make_driver: Callable[..., Driver], sandbox: Sandbox, how: str
) -> None:
    driver = make_driver()
    assert all(r.ok for r in driver.send_many(N, [sandbox.apns_device() for _ in range(5)]))  # a working setup
    good: list[Target] = [sandbox.apns_device() for _ in range(20)]
    bad: list[Target] = [sandbox.apns_device() for _ in range(3)]
    for target in bad:
        sandbox.fail(400, target=target, reason="BadDeviceToken")
    results = deliver(driver, how, good[:10] + bad + good[10:])
    dead = [r for r in results if r.token_invalid]
    assert sorted(r.target.key for r in dead) == sorted(t.key for t in bad)
    assert all(isinstance(r.error, InvalidTokenError) for r in dead)
    assert sorted(r.target.key for r in driver.invalid) == sorted(t.key for t in bad)
    assert sum(r.ok for r in results) == 20


def test_unregistered_is_trusted_even_in_a_storm(make_driver: Callable[..., Driver], sandbox: Sandbox) -> None:
    driver = make_driver()
    devices: list[Target] = [sandbox.apns_device() for _ in range(10)]
    for device in devices:
        sandbox.invalidate(device)  # 410 Unregistered: a token valid for this configuration is gone
    batch = driver.send_many(N, devices)
    assert batch.invalid_tokens == devices
    assert len(driver.invalid) == 10


def test_the_guard_can_be_turned_off(make_driver: Callable[..., Driver], sandbox: Sandbox) -> None:
    driver = make_driver(pruning_guard=None)
    sandbox.fail(400, provider="apns", reason="BadDeviceToken", times=None)
    devices: list[Target] = [sandbox.apns_device() for _ in range(5)]
    batch = driver.send_many(N, devices)
    assert batch.invalid_tokens == devices
    assert len(driver.invalid) == 5


def test_a_storm_after_successes_is_still_held(sandbox: Sandbox) -> None:
    """The developers' phones succeed, the rest of a production table sent to the sandbox environment does not."""
    sandbox.faults.clear()
    reported: list[SendResult] = []
    with sandbox.client(on_invalid_token=reported.append, concurrency=1) as client:
        assert all(r.ok for r in client.send_many(N, [sandbox.apns_device() for _ in range(2)]))
        sandbox.fail(400, provider="apns", reason="BadDeviceToken", times=None)
        batch = client.send_many(N, [sandbox.apns_device() for _ in range(40)])
    sandbox.faults.clear()
    # Two successes buy at most two believed answers (the share limit); the other 38 are held.
    assert len(batch.invalid_tokens) <= 2
    assert len(reported) == len(batch.invalid_tokens)
    assert sum(isinstance(r.error, ConfigurationError) for r in batch) >= 38
