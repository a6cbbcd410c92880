"""FCM topic management over real sockets: both clients against the sandbox's Instance ID emulation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from unipush import (
    AsyncPushClient,
    ConfigurationError,
    Notification,
    ProviderError,
    PushClient,
    RetryPolicy,
    SendResult,
    ValidationError,
)
from unipush.fcm import FcmCondition, FcmDevice, FcmTopic, TopicErrorCode
from unipush.sandbox import Fault, Sandbox
from unipush.sandbox.emulators._fcm import DETAIL_HEADER

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, budget=None)


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    sandbox.faults.clear()
    sandbox.inbox.clear()


def reached(sandbox: Sandbox, *devices: FcmDevice) -> list[str]:
    """Which of ``devices`` got something (device deliveries, not the record under the topic)."""
    keys = {d.token for d in devices}
    return [d.target for d in sandbox.inbox.for_provider("fcm") if d.target in keys]


def test_subscribe_send_unsubscribe_round_trip_sync(sandbox: Sandbox) -> None:
    live_a, live_b, dead, bystander = (sandbox.fcm_device() for _ in range(4))
    sandbox.invalidate(dead)
    pruned: list[SendResult] = []
    with sandbox.client(on_invalid_token=pruned.append) as client:
        result = client.subscribe_to_topic("sync-news", [live_a, dead.token, live_b])

        assert (result.topic, result.operation) == ("sync-news", "subscribe")
        assert [r.target for r in result] == [live_a, dead, live_b]  # input order
        assert [r.ok for r in result] == [True, False, True]
        assert (result.success_count, result.failure_count) == (2, 1)
        assert result.invalid_tokens == [dead]
        assert result[1].reason is TopicErrorCode.NOT_FOUND
        assert result[1].provider == "fcm"
        assert [r.target for r in pruned] == [dead]  # the callback ran once, for the dead token

        sent = client.send(Notification(title="Extra"), FcmTopic("sync-news"))
        assert sent.ok
        assert sorted(reached(sandbox, live_a, live_b, dead, bystander)) == sorted([live_a.token, live_b.token])
        [on_topic] = sandbox.inbox.for_target("sync-news")  # the message as FCM accepted it, once
        assert on_topic.message_id == sent.message_id
        assert all(d.payload == on_topic.payload for d in sandbox.inbox.for_target(live_a.token))

        removed = client.unsubscribe_from_topic(FcmTopic("/topics/sync-news"), [live_a])
        assert [r.ok for r in removed] == [True]
        assert removed.operation == "unsubscribe"
        sandbox.inbox.clear()
        assert client.send(Notification(title="Again"), FcmTopic("sync-news")).ok
        assert reached(sandbox, live_a, live_b, dead, bystander) == [live_b.token]
    assert len(pruned) == 1


def test_subscribe_send_unsubscribe_round_trip_async(sandbox: Sandbox) -> None:
    async def main() -> None:
        live_a, live_b, dead = (sandbox.fcm_device() for _ in range(3))
        sandbox.invalidate(dead)
        pruned: list[SendResult] = []

        async def prune(result: SendResult) -> None:
            await asyncio.sleep(0)
            pruned.append(result)

        async with sandbox.async_client(on_invalid_token=prune) as client:
            result = await client.subscribe_to_topic("async-news", [live_a.token, live_b, dead])
            assert [r.ok for r in result] == [True, True, False]
            assert result.invalid_tokens == [dead]
            assert [r.target for r in pruned] == [dead]

            assert (await client.send(Notification(title="Hi"), FcmTopic("async-news"))).ok
            assert sorted(reached(sandbox, live_a, live_b, dead)) == sorted([live_a.token, live_b.token])

            removed = await client.unsubscribe_from_topic("async-news", live_b)
            assert removed.success_count == 1
            sandbox.inbox.clear()
            assert (await client.send(Notification(title="Hi"), FcmTopic("async-news"))).ok
            assert reached(sandbox, live_a, live_b, dead) == [live_a.token]

    asyncio.run(main())


def test_more_than_1000_tokens_are_split_into_calls_with_results_in_input_order(sandbox: Sandbox) -> None:
    tokens = [sandbox.fcm_device().token for _ in range(2345)]
    sandbox.invalidate(FcmDevice(tokens[1500]))  # in the second call
    before = sandbox.fcm.topic_requests
    with sandbox.client(concurrency=2) as client:
        result = client.subscribe_to_topic("big", tokens)
    assert sandbox.fcm.topic_requests - before == 3  # 1000 + 1000 + 345
    assert [r.target.key for r in result] == tokens
    assert [i for i, r in enumerate(result) if not r.ok] == [1500]
    assert result[1500].token_invalid
    assert sandbox.fcm.subscribers("big") == tokens[:1500] + tokens[1501:]


def test_a_device_that_is_invalidated_later_no_longer_receives_topic_sends(sandbox: Sandbox) -> None:
    a, b = sandbox.fcm_device(), sandbox.fcm_device()
    with sandbox.client() as client:
        assert client.subscribe_to_topic("later", [a, b]).success_count == 2
        sandbox.invalidate(a)
        assert client.send(Notification(title="Hi"), FcmTopic("later")).ok
    assert reached(sandbox, a, b) == [b.token]


def test_a_condition_reaches_the_devices_whose_subscriptions_match_it(sandbox: Sandbox) -> None:
    only_x, x_and_y, only_y = sandbox.fcm_device(), sandbox.fcm_device(), sandbox.fcm_device()
    with sandbox.client() as client:
        client.subscribe_to_topic("cx", [only_x, x_and_y])
        client.subscribe_to_topic("cy", [x_and_y, only_y])
        assert client.send(Notification(title="Hi"), FcmCondition("'cx' in topics && !('cy' in topics)")).ok
        assert reached(sandbox, only_x, x_and_y, only_y) == [only_x.token]
        sandbox.inbox.clear()
        # FCM evaluates left to right: ('cy' || 'cx') && !'cx', not 'cy' || ('cx' && !'cx').
        assert client.send(
            Notification(title="Hi"), FcmCondition("'cy' in topics || 'cx' in topics && !('cx' in topics)")
        ).ok
        assert reached(sandbox, only_x, x_and_y, only_y) == [only_y.token]
    assert sandbox.fcm.subscriptions(x_and_y.token) == {"cx", "cy"}


def test_a_failed_call_is_retried_with_the_clients_policy(sandbox: Sandbox) -> None:
    device = sandbox.fcm_device()
    sandbox.faults.add(Fault(kind="status", provider="fcm", status=503, times=1))
    with sandbox.client(retry=FAST) as client:
        [result] = client.subscribe_to_topic("retried", [device])
    assert result.ok
    assert result.attempts == 2
    assert sandbox.fcm.subscribers("retried") == [device.token]


def test_an_expired_access_token_is_refreshed_once(sandbox: Sandbox) -> None:
    device = sandbox.fcm_device()
    with sandbox.client(retry=FAST) as client:
        assert client.send(Notification(title="Hi"), device).ok  # the OAuth token is now cached
        sandbox.fcm.expire_tokens()
        [result] = client.subscribe_to_topic("refreshed", [device])
    assert result.ok
    assert result.attempts == 2


def test_a_call_refused_as_a_whole_fails_every_token_of_it_and_fires_no_callback(sandbox: Sandbox) -> None:
    devices = [sandbox.fcm_device() for _ in range(3)]
    sandbox.faults.add(Fault(kind="status", provider="fcm", status=400, times=None))
    pruned: list[SendResult] = []
    with sandbox.client(retry=FAST, on_invalid_token=pruned.append) as client:
        result = client.subscribe_to_topic("refused", devices)
    assert result.failure_count == 3
    assert pruned == []
    for item in result:
        assert type(item.error) is ProviderError
        assert item.status_code == 400
        assert item.attempts == 1
        assert item.reason is TopicErrorCode.INVALID_ARGUMENT
        assert not item.token_invalid
    assert sandbox.fcm.subscribers("refused") == []


def test_bad_input_raises_before_anything_is_sent(sandbox: Sandbox) -> None:
    before = sandbox.fcm.topic_requests
    with sandbox.client() as client:
        with pytest.raises(ValidationError, match=r"^topic: topic name must use only"):
            client.subscribe_to_topic("not ok", [sandbox.fcm_device()])
        with pytest.raises(ValidationError, match=r"^tokens: must hold at least one registration token$"):
            client.unsubscribe_from_topic("ok", [])
    assert sandbox.fcm.topic_requests == before


def test_a_client_without_fcm_cannot_manage_topics(sandbox: Sandbox) -> None:
    with (
        PushClient(apns=sandbox.apns_config(), verify=sandbox.ssl_context()) as client,
        pytest.raises(
            ConfigurationError,
            match=r"^no provider configured for FcmTopic \(provider 'fcm'\); pass fcm=\.\.\. to the client$",
        ),
    ):
        client.subscribe_to_topic("news", [sandbox.fcm_device()])

    async def main() -> None:
        async with AsyncPushClient(apns=sandbox.apns_config(), verify=sandbox.ssl_context()) as client:
            with pytest.raises(ConfigurationError):
                await client.subscribe_to_topic("news", [sandbox.fcm_device()])

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------ the emulator


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(http2=True, verify=sandbox.ssl_context(), timeout=5) as client:
        yield client


def iid(sandbox: Sandbox, http: httpx.Client, path: str, body: object, **headers: str) -> httpx.Response:
    token = sandbox.fcm.mint_access_token()
    merged = {"authorization": f"Bearer {token}", "access_token_auth": "true", **headers}
    return http.post(f"{sandbox.fcm_url}/iid/v1:{path}", json=body, headers=merged)


def test_the_emulator_answers_one_result_per_token(sandbox: Sandbox, http: httpx.Client) -> None:
    good, dead = sandbox.fcm.new_device(), sandbox.fcm.new_device()
    sandbox.fcm.invalidate(dead)
    answer = iid(sandbox, http, "batchAdd", {"to": "/topics/raw", "registration_tokens": [good, dead, "x y"]})
    assert answer.status_code == 200
    assert answer.json() == {"results": [{}, {"error": "NOT_FOUND"}, {"error": "INVALID_ARGUMENT"}]}
    removed = iid(sandbox, http, "batchRemove", {"to": "/topics/raw", "registration_tokens": [good, good]})
    assert removed.json() == {"results": [{}, {}]}  # removing what is not there is not an error
    assert sandbox.fcm.subscribers("raw") == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"to": "news", "registration_tokens": ["a" * 40]}, "'to' must be /topics/<name>"),
        ({"to": "/topics/a b", "registration_tokens": ["a" * 40]}, "'to' must be /topics/<name>"),
        ({"to": "/topics/news", "registration_tokens": []}, "'registration_tokens' must be a non-empty list"),
        ({"to": "/topics/news", "registration_tokens": ["a" * 40] * 1001}, "1001 registration tokens; at most 1000"),
        ([], "the body is not a JSON object"),
    ],
)
def test_the_emulator_refuses_a_malformed_call(sandbox: Sandbox, http: httpx.Client, body: object, detail: str) -> None:
    answer = iid(sandbox, http, "batchAdd", body)
    assert answer.status_code == 400
    assert answer.json() == {"error": "INVALID_ARGUMENT"}
    assert answer.headers[DETAIL_HEADER].startswith(detail)


def test_the_emulator_wants_the_oauth_token_and_access_token_auth(sandbox: Sandbox, http: httpx.Client) -> None:
    body = {"to": "/topics/news", "registration_tokens": [sandbox.fcm.new_device()]}
    token = sandbox.fcm.mint_access_token()
    missing_flag = http.post(
        f"{sandbox.fcm_url}/iid/v1:batchAdd", json=body, headers={"authorization": f"Bearer {token}"}
    )
    assert missing_flag.status_code == 401
    assert missing_flag.json() == {"error": "UNAUTHENTICATED"}
    no_token = http.post(f"{sandbox.fcm_url}/iid/v1:batchAdd", json=body, headers={"access_token_auth": "true"})
    assert no_token.status_code == 401
    assert no_token.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_device_holds_at_most_2000_topics(sandbox: Sandbox) -> None:
    from unipush.sandbox._interface import SandboxRequest

    device = sandbox.fcm.new_device()
    headers = {"authorization": f"Bearer {sandbox.fcm.mint_access_token()}", "access_token_auth": "true"}

    def add(topic: str) -> object:
        body = f'{{"to": "/topics/{topic}", "registration_tokens": ["{device}"]}}'.encode()
        request = SandboxRequest(method="POST", path="/iid/v1:batchAdd", headers=headers, body=body)
        return json_of(sandbox.fcm.respond(request).body)

    for i in range(2000):
        assert add(f"t{i}") == {"results": [{}]}
    assert add("t0") == {"results": [{}]}  # already subscribed: not a new topic
    assert add("one-too-many") == {"results": [{"error": "TOO_MANY_TOPICS"}]}


def json_of(body: bytes) -> object:
    import json

    return json.loads(body)


def test_faults_answer_in_the_iid_format(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault(kind="status", provider="fcm", status=429, retry_after="3"))
    answer = iid(sandbox, http, "batchAdd", {"to": "/topics/news", "registration_tokens": [sandbox.fcm.new_device()]})
    assert answer.status_code == 429
    assert answer.json() == {"error": "RESOURCE_EXHAUSTED"}
    assert answer.headers["retry-after"] == "3"


def test_the_sync_client_reads_the_tokens_in_the_callers_thread(sandbox: Sandbox) -> None:
    import threading

    devices = [sandbox.fcm_device() for _ in range(3)]
    readers: set[str] = set()

    def tokens() -> Iterator[FcmDevice]:
        for device in devices:
            readers.add(threading.current_thread().name)
            yield device

    with sandbox.client() as client:
        assert client.subscribe_to_topic("threads", tokens()).success_count == 3
    assert readers == {threading.current_thread().name}
