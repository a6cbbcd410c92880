"""``Sandbox``: lifecycle, what it exposes, and that unipush's own provider configs work against it.

Requests are rendered by the real provider configs (``prepare``) and sent with plain httpx, so these
tests check the wiring (URLs, credentials, CA) without depending on unipush's clients.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.sandbox.helpers import RawH2Client
from unipush._model import Notification
from unipush._results import PreparedRequest
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.sandbox import DEFAULT_APNS_TOPIC, DEFAULT_MAX_CONCURRENT_STREAMS, Sandbox
from unipush.webpush import WebPush, WebPushSubscription

NOTIFICATION = Notification(
    title="Order shipped", body="#1234 is on its way", deep_link="https://shop.example/o/1234", data={"order": "1234"}
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "sandbox" in request.fixturenames:
        shared: Sandbox = request.getfixturevalue("sandbox")
        shared.faults.clear()
        shared.inbox.clear()


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(http2=True, verify=sandbox.ssl_context(), timeout=5) as client:
        yield client


def now() -> datetime:
    return datetime.now(timezone.utc)


def send(http: httpx.Client, request: PreparedRequest) -> httpx.Response:
    return http.request(request.method, request.url, headers=dict(request.headers), content=request.body)


def send_apns(sandbox: Sandbox, http: httpx.Client, device: ApnsDevice | None = None) -> httpx.Response:
    return send(http, sandbox.apns_config().prepare(NOTIFICATION, device or sandbox.apns_device(), now=now()))


# -- lifecycle ---------------------------------------------------------------------------------------


def test_start_is_fast_and_stop_leaves_nothing_behind() -> None:
    threads_before = threading.active_count()
    sandbox = Sandbox()

    started = time.perf_counter()
    sandbox.start()
    elapsed = time.perf_counter() - started
    directory = sandbox.directory
    running_threads = threading.active_count()
    was_running = sandbox.running
    sandbox.stop()

    assert elapsed < 1.0
    assert was_running
    assert running_threads == threads_before + 1  # one loop thread for all three servers
    assert threading.active_count() == threads_before
    assert not directory.exists()  # the temporary directory is removed
    assert not sandbox.running
    sandbox.stop()  # a second stop is a no-op


def test_a_given_directory_is_kept(tmp_path: Path) -> None:
    directory = tmp_path / "creds"
    with Sandbox(directory=directory) as sandbox:
        assert sandbox.directory == directory
        assert sandbox.ca_path.parent == directory
    assert (directory / "ca.pem").exists()
    assert (directory / "service-account.json").exists()


def test_stopped_servers_refuse_connections() -> None:
    with Sandbox() as sandbox:
        port = sandbox.servers["apns"].port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_async_context_manager() -> None:
    threads_before = threading.active_count()

    async def main() -> int:
        async with Sandbox() as sandbox:
            context = sandbox.ssl_context()
            async with httpx.AsyncClient(http2=True, verify=context) as http:
                response = await http.get(sandbox.webpush_url + "/")
            return response.status_code

    status = asyncio.run(main())
    assert 400 <= status < 500  # no push resource at "/": the service's own error
    assert threading.active_count() == threads_before


def test_restart_after_stop() -> None:
    sandbox = Sandbox()
    with sandbox:
        first = sandbox.apns_url
    with sandbox:
        assert sandbox.apns_url.startswith("https://127.0.0.1:")
    assert first.startswith("https://127.0.0.1:")


def test_misuse_is_reported() -> None:
    sandbox = Sandbox()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.apns_url
    with sandbox, pytest.raises(RuntimeError, match="already running"):
        sandbox.start()
    with pytest.raises(ValueError, match="unknown service"):
        Sandbox(ports={"gcm": 1})
    assert repr(sandbox) == "Sandbox(stopped)"


def test_fixed_ports() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sandbox(ports={"fcm": port}) as sandbox:
        assert sandbox.fcm_url == f"https://127.0.0.1:{port}"
        assert len({sandbox.apns_url, sandbox.fcm_url, sandbox.webpush_url}) == 3


# -- what it exposes ---------------------------------------------------------------------------------


def test_info_is_json_with_urls_ca_and_credentials(sandbox: Sandbox) -> None:
    info = json.loads(json.dumps(sandbox.info()))

    assert info["apns_url"] == sandbox.apns_url
    assert info["fcm_url"] == sandbox.fcm_url
    assert info["webpush_url"] == sandbox.webpush_url
    assert info["ca_path"] == str(sandbox.ca_path)
    for key in ("ca_path", "apns_key_path", "fcm_service_account_path", "webpush_vapid_private_key_path"):
        assert Path(info[key]).is_file(), key
    assert Path(info["apns_key_path"]).name == f"AuthKey_{info['apns_key_id']}.p8"
    assert len(info["apns_team_id"]) == 10
    account = json.loads(Path(info["fcm_service_account_path"]).read_text())
    assert account["token_uri"] == f"{sandbox.fcm_url}/token" == info["fcm_token_uri"]
    assert account["project_id"] == info["fcm_project_id"]


def test_every_service_speaks_http2_over_tls_verified_by_the_ca(sandbox: Sandbox, http: httpx.Client) -> None:
    for url in (sandbox.apns_url, sandbox.fcm_url, sandbox.webpush_url):
        response = http.get(url + "/")
        assert response.http_version == "HTTP/2"
        assert response.status_code >= 400  # "/" is nobody's endpoint


def test_http1_where_the_real_service_allows_it(sandbox: Sandbox) -> None:
    with httpx.Client(http1=True, http2=False, verify=sandbox.ssl_context()) as http1:
        assert http1.get(sandbox.fcm_url + "/").http_version == "HTTP/1.1"
        assert http1.get(sandbox.webpush_url + "/").http_version == "HTTP/1.1"
        with pytest.raises(httpx.HTTPError):  # APNs is HTTP/2 only
            http1.get(sandbox.apns_url + "/")


def test_emulators_and_servers(sandbox: Sandbox) -> None:
    assert set(sandbox.emulators) == set(sandbox.servers) == {"apns", "fcm", "webpush"}
    assert sandbox.emulators["apns"] is sandbox.apns
    assert sandbox.servers["webpush"].base_url == sandbox.webpush_url
    assert repr(sandbox).startswith("Sandbox(apns='https://127.0.0.1:")


# -- targets and configs, end to end -----------------------------------------------------------------


def test_apns_config_and_device_are_accepted(sandbox: Sandbox, http: httpx.Client) -> None:
    device = sandbox.apns_device()
    config = sandbox.apns_config()
    assert isinstance(config, APNs)
    assert isinstance(device, ApnsDevice)

    response = send_apns(sandbox, http, device)

    assert response.status_code == 200, response.text
    [delivery] = sandbox.inbox.wait_for(1)
    assert delivery.provider == "apns"
    assert delivery.target == device.token
    assert delivery.payload is not None
    assert delivery.payload["aps"]["alert"]["title"] == "Order shipped"
    assert delivery.headers["apns-topic"] == DEFAULT_APNS_TOPIC
    assert delivery.message_id == response.headers["apns-id"]


def test_apns_device_bound_to_a_topic(sandbox: Sandbox, http: httpx.Client) -> None:
    device = sandbox.apns_device(topic="com.example.other")
    response = send_apns(sandbox, http, device)
    assert (response.status_code, response.json()["reason"]) == (400, "DeviceTokenNotForTopic")


def test_fcm_config_fetches_a_token_from_the_sandbox_and_sends(sandbox: Sandbox, http: httpx.Client) -> None:
    config = sandbox.fcm_config()
    device = sandbox.fcm_device()
    assert isinstance(config, FCM)
    assert isinstance(device, FcmDevice)

    prepared = config.prepare(NOTIFICATION, device, now=now())
    assert prepared.url.startswith(sandbox.fcm_url)
    # The OAuth2 service-account grant goes to the sandbox's token endpoint (token_uri in the file).
    authorized = asyncio.run(config.authorize(prepared, refresh=False, ssl_context=sandbox.ssl_context()))
    response = send(http, authorized)

    assert response.status_code == 200, response.text
    assert response.json()["name"].startswith(f"projects/{sandbox.fcm.project_id}/messages/")
    [delivery] = sandbox.inbox.wait_for(1)
    assert (delivery.provider, delivery.target) == ("fcm", device.token)
    assert sandbox.fcm.token_requests == 1


def test_webpush_config_and_subscription_are_accepted_and_decrypted(sandbox: Sandbox, http: httpx.Client) -> None:
    subscription = sandbox.subscribe()
    config = sandbox.webpush_config()
    assert isinstance(subscription, WebPushSubscription)
    assert isinstance(config, WebPush)
    assert subscription.endpoint.startswith(sandbox.webpush_url + "/")

    prepared = config.prepare(NOTIFICATION, subscription, now=now())
    response = send(http, prepared)

    assert response.status_code == 201, response.text
    [delivery] = sandbox.inbox.wait_for(1)
    assert delivery.target == subscription.endpoint
    assert delivery.payload == prepared.payload  # what the browser decrypts is what was rendered


def test_a_subscription_for_another_key_refuses_the_sandbox_key(sandbox: Sandbox, http: httpx.Client) -> None:
    other = WebPush(vapid_private_key=_new_vapid_pem(), subject="mailto:ops@example.com", allow_local_endpoints=True)
    subscription = sandbox.subscribe(application_server_key=other.application_server_key)

    refused = send(http, sandbox.webpush_config().prepare(NOTIFICATION, subscription, now=now()))
    accepted = send(http, other.prepare(NOTIFICATION, subscription, now=now()))

    assert refused.status_code in (401, 403)
    assert accepted.status_code == 201


def _new_vapid_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- fault shortcuts ---------------------------------------------------------------------------------


def test_fail_answers_with_the_services_error(sandbox: Sandbox, http: httpx.Client) -> None:
    fault = sandbox.fail(503, provider="apns", retry_after=30)

    failed = send_apns(sandbox, http)
    after = send_apns(sandbox, http)

    assert fault.kind == "status"
    assert failed.status_code == 503
    assert failed.json()["reason"] == "ServiceUnavailable"
    assert failed.headers["retry-after"] == "30"
    assert after.status_code == 200


def test_fail_for_one_target(sandbox: Sandbox, http: httpx.Client) -> None:
    unlucky = sandbox.apns_device()
    sandbox.fail(429, target=unlucky, times=None)

    assert send_apns(sandbox, http, unlucky).status_code == 429
    assert send_apns(sandbox, http, unlucky).status_code == 429
    assert send_apns(sandbox, http).status_code == 200
    with pytest.raises(ValueError, match="belongs to 'apns'"):
        sandbox.fail(500, provider="fcm", target=unlucky)
    with pytest.raises(ValueError, match="unknown provider"):
        sandbox.fail(500, provider="mpns")


def test_invalidate_makes_each_kind_of_target_dead(sandbox: Sandbox, http: httpx.Client) -> None:
    apns_device = sandbox.apns_device()
    sandbox.invalidate(apns_device.token, provider="apns")
    dead_apns = send_apns(sandbox, http, apns_device)
    assert dead_apns.status_code == 410
    assert dead_apns.json()["reason"] == "Unregistered"
    assert isinstance(dead_apns.json()["timestamp"], int)

    subscription = sandbox.subscribe()
    sandbox.invalidate(subscription)  # a Target names its provider
    dead_push = send(http, sandbox.webpush_config().prepare(NOTIFICATION, subscription, now=now()))
    assert dead_push.status_code in (404, 410)

    other = sandbox.apns_device()
    sandbox.invalidate(other.token)  # a bare key: a permanent invalid_token fault on every service
    assert send_apns(sandbox, http, other).status_code == 410
    assert send_apns(sandbox, http, other).status_code == 410
    assert send_apns(sandbox, http).status_code == 200


def test_latency(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.latency(0.3, provider="apns", times=1)
    started = time.perf_counter()
    assert send_apns(sandbox, http).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert sandbox.faults.pending() == []


def test_goaway_after_and_max_concurrent_streams(sandbox: Sandbox) -> None:
    sandbox.set_max_concurrent_streams(5, provider="apns")
    sandbox.goaway_after(2, provider="apns")
    assert sandbox.faults.goaway_after == {"apns": 2}

    with RawH2Client(sandbox.servers["apns"].port, sandbox.ca_path) as h2c:
        streams = [h2c.request("/3/device/00", method="POST") for _ in range(3)]
        h2c.read_until(lambda c: c.closed)
        assert h2c.max_concurrent_streams == 5
        assert h2c.goaway is not None
        assert h2c.goaway.last_stream_id == streams[1]
    with RawH2Client(sandbox.servers["fcm"].port, sandbox.ca_path) as h2c:
        h2c.read_until(lambda c: c.max_concurrent_streams is not None)
        assert h2c.max_concurrent_streams == DEFAULT_MAX_CONCURRENT_STREAMS

    sandbox.goaway_after(None)
    sandbox.set_max_concurrent_streams(None)
    assert sandbox.faults.goaway_after == sandbox.faults.max_concurrent_streams == {}
    sandbox.goaway_after(3)  # every service
    assert sandbox.faults.goaway_after == {"apns": 3, "fcm": 3, "webpush": 3}
    with pytest.raises(ValueError, match="n >= 1"):
        sandbox.goaway_after(0)


def test_ssl_context_trusts_only_the_sandbox(sandbox: Sandbox) -> None:
    context = sandbox.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_wildcard_bind_is_reached_through_loopback() -> None:
    with Sandbox(host="0.0.0.0") as sandbox:
        assert sandbox.apns_url.startswith("https://127.0.0.1:")
        with httpx.Client(http2=True, verify=sandbox.ssl_context()) as http:
            assert http.get(sandbox.fcm_url + "/").http_version == "HTTP/2"
