"""FcmOptions: every field checked at construction; errors name ``fcm.<field>``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from unipush._errors import ValidationError
from unipush._model import Notification
from unipush.fcm import FcmOptions


def test_defaults_are_empty() -> None:
    opts = FcmOptions()
    assert opts.validate_only is False
    assert opts.title_loc_args == ()
    assert opts.android is None


def test_sequences_are_frozen_to_tuples() -> None:
    opts = FcmOptions(title_loc_args=["a", "b"], body_loc_args=["c"], vibrate_timings=[1, 0.5])
    assert opts.title_loc_args == ("a", "b")
    assert opts.body_loc_args == ("c",)
    assert opts.vibrate_timings == (1, 0.5)


def test_raw_mappings_are_copied() -> None:
    raw: dict[str, Any] = {"notification": {"color": "#000000"}}
    opts = FcmOptions(android=raw)
    raw["notification"]["color"] = "#ffffff"
    assert opts.android == {"notification": {"color": "#000000"}}
    with pytest.raises(TypeError):
        opts.android["x"] = 1  # type: ignore[index]


def test_options_attach_to_a_notification() -> None:
    assert Notification(title="x", fcm=FcmOptions(channel_id="c")).fcm == FcmOptions(channel_id="c")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"color": "red"}, "fcm.color"),
        ({"color": "#12345"}, "fcm.color"),
        ({"color": "#1234567"}, "fcm.color"),
        ({"notification_priority": "urgent"}, "fcm.notification_priority"),
        ({"notification_priority": "PRIORITY_HIGH"}, "fcm.notification_priority"),
        ({"visibility": "hidden"}, "fcm.visibility"),
        ({"notification_count": -1}, "fcm.notification_count"),
        ({"notification_count": 2**31}, "fcm.notification_count"),
        ({"notification_count": True}, "fcm.notification_count"),
        ({"sticky": 1}, "fcm.sticky"),
        ({"local_only": "yes"}, "fcm.local_only"),
        ({"default_sound": 0}, "fcm.default_sound"),
        ({"direct_boot_ok": "true"}, "fcm.direct_boot_ok"),
        ({"validate_only": 1}, "fcm.validate_only"),
        ({"channel_id": ""}, "fcm.channel_id"),
        ({"icon": 3}, "fcm.icon"),
        ({"restricted_package_name": ""}, "fcm.restricted_package_name"),
        ({"analytics_label": ""}, "fcm.analytics_label"),
        ({"analytics_label": "x" * 51}, "fcm.analytics_label"),
        ({"analytics_label": "has space"}, "fcm.analytics_label"),
        ({"event_time": "2025-01-01T00:00:00Z"}, "fcm.event_time"),
        ({"event_time": datetime(2025, 1, 1)}, "fcm.event_time"),
        ({"vibrate_timings": [-1]}, "fcm.vibrate_timings[0]"),
        ({"vibrate_timings": [0.1, timedelta(seconds=-1)]}, "fcm.vibrate_timings[1]"),
        ({"vibrate_timings": ["1s"]}, "fcm.vibrate_timings[0]"),
        ({"vibrate_timings": "1s"}, "fcm.vibrate_timings"),
        ({"title_loc_args": "abc"}, "fcm.title_loc_args"),
        ({"body_loc_args": ["a", 1]}, "fcm.body_loc_args[1]"),
        ({"android": ["x"]}, "fcm.android"),
        ({"apns": {"payload": {"aps": {"x": float("nan")}}}}, "fcm.apns['payload']['aps']['x']"),
        ({"webpush": {1: "x"}}, "fcm.webpush"),
        ({"message": {"token": "other"}}, "fcm.message"),
        ({"message": {"topic": "news"}}, "fcm.message"),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        FcmOptions(**kwargs)
    assert info.value.field == field


def test_valid_edge_values() -> None:
    opts = FcmOptions(
        color="#ABCdef",
        analytics_label="a-b_c.d~e%f" + "x" * 39,
        notification_count=0,
        event_time=datetime(2025, 1, 1, tzinfo=timezone.utc),
        vibrate_timings=[0, timedelta(0)],
    )
    assert opts.color == "#ABCdef"
    assert len(opts.analytics_label or "") == 50
