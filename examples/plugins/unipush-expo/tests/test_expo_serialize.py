"""``ExpoDevice`` travels like a built-in target: ``to_dict()`` and ``unipush.target_from_dict``.

The target inherits ``to_dict()`` from ``unipush.Target`` (it is a dataclass), and unipush finds the
class through the ``expo`` entry point: it reads ``Expo.target_types`` from the class of the
``Expo.from_env`` classmethod, without building the provider.
"""

from __future__ import annotations

import json

import pytest
from unipush_expo import ENV_BASE_URL, ExpoDevice

from unipush import ValidationError, target_from_dict

TOKEN = "ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]"


def test_the_form_of_an_expo_device() -> None:
    device = ExpoDevice(f"  {TOKEN} ")
    assert device.to_dict() == {"v": 1, "provider": "expo", "type": "device", "token": TOKEN}
    assert target_from_dict(json.loads(json.dumps(device.to_dict()))) == device


def test_reading_a_target_does_not_build_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    # Expo.from_env would refuse this environment; reading a target never calls it.
    monkeypatch.setenv(ENV_BASE_URL, "not a url")
    assert target_from_dict({"v": 1, "provider": "expo", "type": "device", "token": TOKEN}) == ExpoDevice(TOKEN)


def test_the_constructor_checks_the_token() -> None:
    with pytest.raises(ValidationError, match=r"^target\.token: must be an Expo push token"):
        target_from_dict({"v": 1, "provider": "expo", "type": "device", "token": "ab" * 32})
    with pytest.raises(ValidationError, match=r"^target\.type: must be one of 'device' for provider 'expo'"):
        target_from_dict({"v": 1, "provider": "expo", "type": "receipt", "token": TOKEN})
