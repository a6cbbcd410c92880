"""Broadcast push round trips over real sockets: channel management, Live Activities that subscribe with
``input_push_channel``, broadcasts reaching every subscribed device's inbox, from both clients."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import httpx
import pytest

from unipush import (
    AsyncPushClient,
    ConfigurationError,
    InvalidTokenError,
    Notification,
    ProviderError,
    PushClient,
    RetryPolicy,
    SendResult,
)
from unipush.apns import ApnsChannel, ApnsDevice, ApnsOptions, ApnsReason, ApnsStoragePolicy
from unipush.sandbox import DEFAULT_APNS_TOPIC, Sandbox

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, budget=None)


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    sandbox.faults.clear()
    sandbox.inbox.clear()


def start(channel: ApnsChannel) -> Notification:
    """Push-to-start a match Live Activity that listens to ``channel`` (iOS 18)."""
    return Notification(
        title="Kick-off",
        body="Home vs Away",
        apns=ApnsOptions(
            event="start",
            attributes_type="MatchAttributes",
            attributes={"home": "Home", "away": "Away"},
            content_state={"score": "0-0"},
            input_push_channel=channel.channel_id,
        ),
    )


def update(score: str) -> Notification:
    return Notification(apns=ApnsOptions(event="update", content_state={"score": score}))


def test_broadcast_reaches_every_subscribed_device(sandbox: Sandbox) -> None:
    with sandbox.client(retry=FAST) as client:
        info = client.apns_channels.create(storage=ApnsStoragePolicy.NO_STORAGE)
        channel = info.target
        assert channel.storage is ApnsStoragePolicy.NO_STORAGE
        fans = [sandbox.apns_device(), sandbox.apns_device()]
        bystander = sandbox.apns_device()
        started = client.send_many(start(channel), fans)
        assert [r.ok for r in started] == [True, True]
        assert sandbox.apns.subscribers(channel.channel_id, DEFAULT_APNS_TOPIC) == [d.token for d in fans]
        sandbox.inbox.clear()

        result = client.send(update("1-0"), channel)

    assert result.ok, result.error
    assert (result.provider, result.target, result.status_code) == ("apns", channel, 200)
    deliveries = sandbox.inbox.wait_for(2)
    assert sorted(d.target for d in deliveries) == sorted(d.token for d in fans)
    assert sandbox.inbox.for_target(bystander.token) == []
    for delivery in deliveries:
        assert delivery.payload is not None
        assert delivery.payload["aps"]["event"] == "update"
        assert delivery.payload["aps"]["content-state"] == {"score": "1-0"}
        assert delivery.headers["apns-channel-id"] == channel.channel_id
        assert delivery.headers["apns-push-type"] == "liveactivity"
        assert delivery.headers["apns-expiration"] == "0"
        assert delivery.message_id == result.message_id == delivery.headers["apns-request-id"]


def test_channel_lifecycle_create_read_list_delete(sandbox: Sandbox) -> None:
    invalid: list[SendResult] = []
    with sandbox.client(retry=FAST, on_invalid_token=invalid.append) as client:
        channels = client.apns_channels
        kept = channels.create(storage=ApnsStoragePolicy.MOST_RECENT)
        dropped = channels.create(storage=0)
        assert kept.channel_id != dropped.channel_id
        assert sandbox.apns.channels(DEFAULT_APNS_TOPIC)[kept.channel_id] == 1

        read = channels.read(kept.channel_id)
        assert (read.channel_id, read.storage, read.push_type) == (
            kept.channel_id,
            ApnsStoragePolicy.MOST_RECENT,
            "LiveActivity",
        )
        assert channels.read(dropped.target).storage is ApnsStoragePolicy.NO_STORAGE
        listed = channels.list_all()
        assert {ApnsChannel(kept.channel_id), ApnsChannel(dropped.channel_id)} <= set(listed)

        channels.delete(dropped.target)
        assert ApnsChannel(dropped.channel_id) not in channels.list_all()
        with pytest.raises(InvalidTokenError, match="ChannelNotRegistered") as caught:
            channels.read(dropped.channel_id)
        assert caught.value.reason is ApnsReason.CHANNEL_NOT_REGISTERED

        # A broadcast to the deleted channel: a dead target, reported once like a dead device token.
        result = client.send(update("2-0"), dropped.target)
    assert not result.ok
    assert result.reason is ApnsReason.CHANNEL_NOT_REGISTERED
    assert result.token_invalid
    assert invalid == [result]
    assert sandbox.inbox.all() == []


def test_end_broadcast_ends_the_subscriptions(sandbox: Sandbox) -> None:
    with sandbox.client(retry=FAST) as client:
        channel = client.apns_channels.create(storage=0).target
        fan = sandbox.apns_device()
        assert client.send(start(channel), fan).ok
        end = Notification(apns=ApnsOptions(event="end", content_state={"score": "3-1"}))
        assert client.send(end, channel).ok
        assert client.send(update("3-2"), channel).ok  # after the end: nobody listens any more
    events = [d.payload["aps"]["event"] for d in sandbox.inbox.for_target(fan.token) if d.payload]
    assert events == ["start", "end"]
    assert sandbox.apns.subscribers(channel.channel_id, DEFAULT_APNS_TOPIC) == []


def test_expiration_rules_of_a_channel_that_stores_nothing(sandbox: Sandbox) -> None:
    with sandbox.client(retry=FAST) as client:
        info = client.apns_channels.create(storage=ApnsStoragePolicy.NO_STORAGE)
        # A ttl sent to a channel whose policy the target does not know: APNs refuses the expiration.
        refused = client.send(Notification(ttl=60, apns=update("1-0").apns), ApnsChannel(info.channel_id))
        assert refused.status_code == 400
        assert refused.reason is ApnsReason.BAD_EXPIRATION_DATE
        assert not refused.token_invalid
        # With the policy known, the same mistake is refused before anything is sent.
        batch = client.send_many(Notification(ttl=60, apns=update("1-0").apns), [info.target])
        assert batch[0].attempts == 0
        assert "ttl: must be 0 or unset" in str(batch[0].error)
        # A channel that keeps the most recent message takes a real expiration.
        stored = client.apns_channels.create(storage=ApnsStoragePolicy.MOST_RECENT).target
        assert client.send(Notification(ttl=60, apns=update("1-0").apns), stored).ok


def test_a_create_is_resent_only_when_apns_did_not_act(sandbox: Sandbox) -> None:
    with sandbox.client(retry=FAST) as client:
        before = set(sandbox.apns.channels(DEFAULT_APNS_TOPIC))
        sandbox.fail(503, provider="apns")  # ServiceUnavailable: nothing was created, so resend
        created = client.apns_channels.create(storage=0)
        assert set(sandbox.apns.channels(DEFAULT_APNS_TOPIC)) - before == {created.channel_id}

        streams = sandbox.servers["apns"].stats.streams
        sandbox.fail(500, provider="apns")  # InternalServerError: it may have been created, so no resend
        with pytest.raises(ProviderError, match="HTTP 500 InternalServerError") as caught:
            client.apns_channels.create(storage=0)
        assert caught.value.reason is ApnsReason.INTERNAL_SERVER_ERROR
        assert sandbox.servers["apns"].stats.streams == streams + 1

        # Reads are idempotent: a 500 is retried like any notification.
        sandbox.fail(500, provider="apns")
        assert client.apns_channels.read(created.channel_id).channel_id == created.channel_id
        assert sandbox.servers["apns"].stats.streams == streams + 3


def test_bad_arguments_are_refused_before_sending(sandbox: Sandbox) -> None:
    with sandbox.client() as client:
        streams = sandbox.servers["apns"].stats.streams
        with pytest.raises(ValueError, match="storage: must be"):
            client.apns_channels.create(storage=2)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="channel: must be base64"):
            client.apns_channels.delete("not a channel")
        start_broadcast = start(ApnsChannel("YQ=="))
        with pytest.raises(ValueError, match="a broadcast cannot start a Live Activity"):
            client.send(start_broadcast, ApnsChannel("YQ=="))
        assert sandbox.servers["apns"].stats.streams == streams
    no_apns = PushClient(fcm=sandbox.fcm_config(), verify=sandbox.ssl_context())
    with no_apns, pytest.raises(ConfigurationError, match="need an APNs config"):
        no_apns.apns_channels.list_all()


def test_async_client_round_trip(sandbox: Sandbox) -> None:
    async def main() -> tuple[list[ApnsDevice], ApnsChannel, SendResult, list[ApnsChannel]]:
        async with sandbox.async_client(retry=FAST) as client:
            assert isinstance(client, AsyncPushClient)
            info = await client.apns_channels.create(storage=ApnsStoragePolicy.NO_STORAGE)
            assert (await client.apns_channels.read(info.target)).storage is ApnsStoragePolicy.NO_STORAGE
            fans = [sandbox.apns_device(), sandbox.apns_device()]
            assert all(r.ok for r in await client.send_many(start(info.target), fans))
            result = await client.send(update("1-1"), info.target)
            await client.apns_channels.delete(info.channel_id)
            with pytest.raises(InvalidTokenError):
                await client.apns_channels.delete(info.channel_id)
            return fans, info.target, result, await client.apns_channels.list_all()

    fans, channel, result, remaining = asyncio.run(main())
    assert result.ok, result.error
    assert channel not in remaining
    broadcasts = [d for d in sandbox.inbox.wait_for(4) if d.headers.get("apns-channel-id") == channel.channel_id]
    assert sorted(d.target for d in broadcasts) == sorted(d.token for d in fans)
    assert all(d.payload is not None and d.payload["aps"]["content-state"] == {"score": "1-1"} for d in broadcasts)


def test_the_emulator_refuses_what_apns_refuses(sandbox: Sandbox) -> None:
    signer = sandbox.apns_config().signer
    assert signer is not None
    auth = {"authorization": signer.authorization(datetime.now(timezone.utc))}
    base = f"{sandbox.apns_url}/1/apps/{DEFAULT_APNS_TOPIC}"
    send_to = f"{sandbox.apns_url}/4/broadcasts/apps/{DEFAULT_APNS_TOPIC}"
    body = json.dumps({"aps": {"event": "update", "timestamp": 1, "content-state": {}}}).encode()
    live = {"apns-push-type": "liveactivity", **auth}

    def reason(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["reason"]

    with httpx.Client(http2=True, verify=sandbox.ssl_context(), timeout=5) as http:
        created = http.post(
            f"{base}/channels", headers=auth, json={"message-storage-policy": 0, "push-type": "LiveActivity"}
        )
        assert created.status_code == 201
        channel = created.headers["apns-channel-id"]
        on_channel = {**live, "apns-channel-id": channel}

        assert reason(http.post(send_to, headers=live, content=body)) == (400, "BadChannelId")
        assert reason(http.post(send_to, headers={**live, "apns-channel-id": "%%"}, content=body)) == (
            400,
            "BadChannelId",
        )
        assert reason(http.post(send_to, headers={**live, "apns-channel-id": "YQ=="}, content=body)) == (
            400,
            "ChannelNotRegistered",
        )
        alert = {**on_channel, "apns-push-type": "alert"}
        assert reason(http.post(send_to, headers=alert, content=body)) == (400, "InvalidPushType")
        stored = {**on_channel, "apns-expiration": "1900000000"}
        assert reason(http.post(send_to, headers=stored, content=body)) == (400, "BadExpirationDate")
        assert reason(http.post(send_to, headers={**on_channel, "apns-priority": "7"}, content=body)) == (
            400,
            "BadPriority",
        )
        assert reason(http.post(send_to, headers=on_channel, content=b"[]")) == (400, "PayloadEmpty")
        assert reason(http.post(send_to, headers=on_channel)) == (400, "PayloadEmpty")
        assert reason(http.post(send_to, headers={"apns-channel-id": channel}, content=body)) == (
            403,
            "MissingProviderToken",
        )
        assert reason(http.get(send_to, headers=on_channel)) == (405, "MethodNotAllowed")

        assert reason(
            http.post(f"{base}/channels", headers=auth, json={"message-storage-policy": 5, "push-type": "LiveActivity"})
        ) == (400, "PayloadEmpty")
        assert reason(
            http.post(f"{base}/channels", headers=auth, json={"message-storage-policy": 0, "push-type": "Alert"})
        ) == (400, "InvalidPushType")
        assert reason(http.get(f"{base}/channels", headers=auth)) == (400, "BadChannelId")
        assert reason(http.put(f"{base}/channels", headers=auth)) == (405, "MethodNotAllowed")
        assert reason(http.delete(f"{base}/all-channels", headers=auth)) == (405, "MethodNotAllowed")
        assert reason(http.get(f"{base}/nothing", headers=auth)) == (404, "BadPath")

        request_id = "123e4567-e89b-12d3-a456-426614174000"
        read = http.get(f"{base}/channels", headers={**auth, "apns-channel-id": channel, "apns-request-id": request_id})
        assert read.status_code == 200
        assert read.json() == {"message-storage-policy": 0, "push-type": "LiveActivity"}
        assert read.headers["apns-request-id"] == request_id

        # Faults match a broadcast by its channel id.
        sandbox.fail(429, target=ApnsChannel(channel))
        assert reason(http.post(send_to, headers=on_channel, content=body)) == (429, "TooManyRequests")
        assert http.post(send_to, headers=on_channel, content=body).status_code == 200
    assert sandbox.inbox.all() == []  # nobody subscribed to the channel
