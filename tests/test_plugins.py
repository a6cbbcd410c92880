"""Provider plugins: entry-point discovery, loading by name, the errors, and routing a plugin's target.

The in-test plugin ("relay", ``tests/fake_plugin.py``) is registered through a fake installed
distribution: a ``.dist-info`` directory with ``entry_points.txt`` on ``sys.path``, which
``importlib.metadata`` finds like any installed package. Its sends go over real TLS and HTTP/2 to a
``SandboxServer`` serving the relay emulator.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fake_plugin import Relay, RelayDevice, RelayEmulator
from tests.sandbox.helpers import ServerThread
from tests.support import pem, service_account
from unipush import (
    PROVIDER_ENTRY_POINT_GROUP,
    AsyncPushClient,
    ConfigurationError,
    InvalidTokenError,
    Notification,
    Outcome,
    PreparedRequest,
    Provider,
    PushClient,
    SendResult,
    SupportsAuthorize,
    Target,
    available_providers,
    load_provider,
)
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM
from unipush.sandbox import SandboxTLS, create_tls
from unipush.webpush import WebPush, generate_vapid_keys

RELAY_ENTRY_POINTS = {
    "relay": "tests.fake_plugin:Relay",
    "relay-missing-module": "tests.no_such_module:Relay",
    "relay-missing-attribute": "tests.fake_plugin:NoSuchThing",
    "relay-not-callable": "tests.fake_plugin:NOT_CALLABLE",
    "relay-not-a-provider": "tests.fake_plugin:not_a_provider",
    "relay-nameless": "tests.fake_plugin:nameless_provider",
    "relay-raises": "tests.fake_plugin:failing_factory",
    "relay-wrong-name": "tests.fake_plugin:Relay",
}


def install_fake_distribution(root: Path, name: str, entry_points: dict[str, str]) -> None:
    """Write ``<root>/<name>-1.0.dist-info`` the way an installer would (METADATA + entry_points.txt)."""
    dist_info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    lines = [f"[{PROVIDER_ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def relay_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_distribution(tmp_path / "site", "relay-plugin", RELAY_ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return create_tls(tmp_path_factory.mktemp("relay-tls"))


@pytest.fixture
def relay_server(tls: SandboxTLS) -> Iterator[tuple[RelayEmulator, str]]:
    emulator = RelayEmulator(api_key="k-123")
    emulator.dead.add("dead-token")
    with ServerThread(emulator, tls) as server:  # type: ignore[arg-type]  # any Emulator works
        yield emulator, server.base_url


# -- discovery --------------------------------------------------------------------------------


def test_the_built_in_providers_are_registered_as_entry_points() -> None:
    found = available_providers()
    for name, value in {
        "apns": "unipush.apns:APNs",
        "fcm": "unipush.fcm:FCM",
        "webpush": "unipush.webpush:WebPush",
    }.items():
        assert found[name].value == value
        assert found[name].group == PROVIDER_ENTRY_POINT_GROUP
        dist = found[name].dist
        assert dist is not None
        assert dist.name == "unipush"
    assert list(found) == sorted(found)


def test_a_plugin_is_discovered_from_its_distribution(relay_installed: None) -> None:
    found = available_providers()
    assert found["relay"].value == "tests.fake_plugin:Relay"
    assert found["relay"].dist is not None
    assert found["relay"].dist.name == "relay-plugin"
    relay = load_provider("relay", base_url="https://relay.example")
    assert isinstance(relay, Relay)
    assert relay.base_url == "https://relay.example"


def test_a_built_in_loads_by_name_with_its_options() -> None:
    keys = generate_vapid_keys()
    webpush = load_provider("webpush", vapid_private_key=keys.private_key_pem, subject="mailto:ops@example.com")
    assert isinstance(webpush, WebPush)
    assert webpush.application_server_key == keys.public_key


def test_a_client_takes_names_with_options_for_built_ins_too() -> None:
    options = {"key": pem(ec.generate_private_key(ec.SECP256R1())), "key_id": "ABC123DEFG", "team_id": "TEAM123456"}
    with PushClient(providers=[("apns", {**options, "topic": "com.example.app"})]) as client:
        assert isinstance(client.providers["apns"], APNs)
        request = client.render(Notification(title="hi"), ApnsDevice("ab" * 32))
    assert request.headers["apns-topic"] == "com.example.app"


# -- errors -------------------------------------------------------------------------------------


def test_an_unknown_name_lists_the_installed_providers() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_provider("carrier-pigeon")
    message = str(caught.value)
    assert "'carrier-pigeon'" in message
    assert "installed: apns, " in message
    assert "webpush" in message
    assert PROVIDER_ENTRY_POINT_GROUP in message


def test_a_built_in_missing_its_required_options_says_which() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PushClient(providers=["apns"])
    message = str(caught.value)
    assert "provider plugin 'apns' (unipush.apns:APNs from unipush" in message
    assert "no options" in message
    assert "missing 1 required keyword-only argument: 'topic'" in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("relay-missing-module", "could not be loaded: ModuleNotFoundError"),
        ("relay-missing-attribute", "could not be loaded: AttributeError"),
        ("relay-not-callable", "names a int, not a class or function to call"),
        (
            "relay-not-a-provider",
            "object does not implement unipush.Provider (missing name, target_types, prepare, parse)",
        ),
        ("relay-nameless", "Relay.name must be a non-empty string"),
        ("relay-raises", "failed while being built with no options: RuntimeError: the relay plugin is broken"),
        ("relay-wrong-name", "built a provider named 'relay': a provider's name must equal its entry point's"),
    ],
)
def test_a_broken_plugin_is_a_configuration_error_naming_it(relay_installed: None, name: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_provider(name)
    message = str(caught.value)
    assert message.startswith(f"provider plugin {name!r} (tests.")
    assert "from relay-plugin 1.0)" in message
    assert expected in message


def test_option_values_never_appear_in_errors(relay_installed: None) -> None:
    with pytest.raises(ConfigurationError) as caught:
        PushClient(providers=[("relay", {"api_key": "s3cret-value", "colour": "blue"})])
    assert "options api_key, colour" in str(caught.value)
    assert "s3cret-value" not in str(caught.value)
    assert isinstance(caught.value.__cause__, TypeError)


def test_two_packages_registering_one_name_are_refused(relay_installed: None, tmp_path: Path) -> None:
    install_fake_distribution(tmp_path / "other", "other-relay", {"relay": "tests.fake_plugin:nameless_provider"})
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path / "other"))
        assert available_providers()["relay"].value == "tests.fake_plugin:nameless_provider"  # first found
        with pytest.raises(ConfigurationError, match="registered by more than one installed package"):
            load_provider("relay")


@pytest.mark.parametrize(
    ("providers", "expected"),
    [
        ("relay", "providers= takes a list, e.g. providers=['relay']"),
        ([("relay",)], "providers[0]: a tuple must be (name, options-dict), got (str)"),
        ([("relay", ["api_key"])], "providers[0]: a tuple must be (name, options-dict), got (str, list)"),
        ([object()], "providers[0]: object does not implement unipush.Provider"),
        ([Relay(), "relay"], "provider 'relay' is configured twice"),
        ([""], "a provider name must be a non-empty string"),
    ],
)
def test_bad_provider_lists(relay_installed: None, providers: object, expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        PushClient(providers=providers)  # type: ignore[arg-type]
    assert expected in str(caught.value)


def test_a_provider_with_bad_target_types_is_refused() -> None:
    relay = Relay()
    relay.target_types = (str,)  # type: ignore[assignment]
    with pytest.raises(
        ConfigurationError, match=r"providers\[0\]: Relay.target_types must hold unipush.Target subclasses"
    ):
        PushClient(providers=[relay])


def test_two_providers_may_not_serve_one_target_type() -> None:
    other = Relay()
    other.name = "relay-two"
    with pytest.raises(ConfigurationError, match="RelayDevice is served by both 'relay' and 'relay-two'"):
        PushClient(providers=[Relay(), other])


def test_a_target_without_its_provider_points_at_the_plugin() -> None:
    keys = generate_vapid_keys()
    with PushClient(webpush=WebPush(vapid_private_key=keys.private_key_pem, subject="mailto:a@example.com")) as client:
        with pytest.raises(ConfigurationError, match=r"pass providers=\['relay'\] \(an installed plugin\)"):
            client.render(Notification(title="x"), RelayDevice("t"))
        with pytest.raises(ConfigurationError, match=r"pass apns=\.\.\. to the client"):
            client.render(Notification(title="x"), ApnsDevice("ab" * 32))


def test_protocols_are_runtime_checkable() -> None:
    fcm = FCM(service_account=service_account())
    assert isinstance(fcm, Provider)
    assert isinstance(fcm, SupportsAuthorize)
    keys = generate_vapid_keys()
    webpush = WebPush(vapid_private_key=keys.private_key_pem, subject="mailto:a@example.com")
    assert isinstance(webpush, Provider)
    # WebPush has the hook too: it attaches a VAPID header that had to come from a credential store.
    assert isinstance(webpush, SupportsAuthorize)
    assert isinstance(Relay(), SupportsAuthorize)

    class Bare:
        name = "bare"
        target_types = (ApnsDevice,)

        def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
            raise NotImplementedError

        def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
            raise NotImplementedError

    assert isinstance(Bare(), Provider)
    assert not isinstance(Bare(), SupportsAuthorize)


# -- routing a plugin's target end to end ---------------------------------------------------------


@pytest.mark.parametrize("async_auth", [False, True], ids=["sync-auth-hook", "async-auth-hook"])
def test_a_plugin_loaded_by_name_sends_over_real_sockets(
    relay_installed: None, relay_server: tuple[RelayEmulator, str], tls: SandboxTLS, async_auth: bool
) -> None:
    emulator, base_url = relay_server
    invalid: list[SendResult] = []
    options = {"base_url": base_url, "api_key": "k-123", "async_auth": async_auth}
    with PushClient(providers=[("relay", options)], verify=str(tls.ca_path), on_invalid_token=invalid.append) as client:
        batch = client.send_many(Notification(title="hi", body="there"), [RelayDevice("t1"), RelayDevice("dead-token")])
        relay = client.providers["relay"]
    ok, dead = batch
    assert ok.ok
    assert ok.provider == "relay"
    assert ok.message_id
    assert not dead.ok
    assert dead.token_invalid
    assert isinstance(dead.error, InvalidTokenError)
    assert invalid == [dead]
    assert [(token, body["title"]) for token, body in emulator.received] == [("t1", "hi")]
    assert isinstance(relay, Relay)
    assert relay.authorized == 2  # the hook ran before each attempt


def test_a_plugin_object_routes_through_the_async_client(
    relay_server: tuple[RelayEmulator, str], tls: SandboxTLS
) -> None:
    emulator, base_url = relay_server
    dead: list[str] = []

    async def forget(result: SendResult) -> None:
        dead.append(result.target.key)

    async def main() -> SendResult:
        relay = Relay(base_url=base_url, api_key="wrong", async_auth=True)
        async with AsyncPushClient(providers=[relay], verify=str(tls.ca_path), on_invalid_token=forget) as client:
            refused = await client.send(Notification(title="x"), RelayDevice("t2"))
            relay.api_key = "k-123"
            await client.send(Notification(title="x"), RelayDevice("dead-token"))
            return refused

    refused = asyncio.run(main())
    assert refused.status_code == 401
    assert not refused.ok
    assert dead == ["dead-token"]
    assert emulator.received == []


# -- the example plugin -------------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("unipush_expo") is None,
    reason="the example plugin is not installed (pip install ./examples/plugins/unipush-expo); CI installs it",
)
def test_the_expo_example_plugin_is_found_when_installed() -> None:
    entry_point = available_providers()["expo"]
    assert entry_point.value == "unipush_expo:Expo.from_env"
    expo = load_provider("expo", base_url="https://exp.example")
    assert isinstance(expo, Provider)
    assert expo.name == "expo"
