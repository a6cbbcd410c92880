"""The installed package registers ``expo`` in unipush's ``unipush.providers`` entry-point group."""

from __future__ import annotations

import pytest
from unipush_expo import ENV_ACCESS_TOKEN, ENV_BASE_URL, ENV_CHANNEL_ID, Expo, ExpoDevice

from unipush import (
    PROVIDER_ENTRY_POINT_GROUP,
    ConfigurationError,
    Notification,
    Provider,
    PushClient,
    available_providers,
    load_provider,
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (ENV_ACCESS_TOKEN, ENV_BASE_URL, ENV_CHANNEL_ID):
        monkeypatch.delenv(variable, raising=False)


def test_the_entry_point_is_installed() -> None:
    entry_point = available_providers()["expo"]
    assert entry_point.group == PROVIDER_ENTRY_POINT_GROUP
    assert entry_point.value == "unipush_expo:Expo.from_env"
    assert entry_point.dist is not None
    assert entry_point.dist.name == "unipush-expo"


def test_load_provider_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ACCESS_TOKEN, "token-from-env")
    monkeypatch.setenv(ENV_BASE_URL, "https://proxy.example/expo")
    monkeypatch.setenv(ENV_CHANNEL_ID, "orders")
    expo = load_provider("expo")
    assert isinstance(expo, Expo)
    assert isinstance(expo, Provider)
    assert expo.url == "https://proxy.example/expo/--/api/v2/push/send"
    assert expo.channel_id == "orders"
    assert expo.has_access_token


def test_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BASE_URL, "https://proxy.example")
    expo = load_provider("expo", base_url="https://other.example")
    assert isinstance(expo, Expo)
    assert expo.base_url == "https://other.example"
    assert not expo.has_access_token
    assert Expo.from_env(environ={}).base_url == "https://exp.host"


def test_a_bad_option_names_the_plugin_and_never_the_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_provider("expo", access_token="s3cret", colour="blue")
    assert "expo" in str(caught.value)
    assert "colour" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_client_built_by_name_renders_like_a_built_in() -> None:
    with PushClient(providers=[("expo", {"access_token": "abc"})]) as client:
        request = client.render(Notification(title="hi"), ExpoDevice("ExpoPushToken[zzzzzzzz]"))
    assert request.provider == "expo"
    assert request.headers["authorization"] == "Bearer abc"


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BASE_URL, "exp.host")
    with pytest.raises(ConfigurationError) as caught:
        PushClient(providers=["expo"])
    assert "Expo base_url must be an http(s) URL" in str(caught.value)
    assert f"read from the environment: {ENV_BASE_URL}" in str(caught.value)
