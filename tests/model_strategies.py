"""Hypothesis strategies for every model class and built-in target, field by field.

``FIELDS[cls]`` holds one strategy per constructor field of ``cls``; ``tests/test_serialize.py``
checks that its keys are exactly the class's fields, so a field added to the model must get a strategy
here (and so is covered by the round-trip property). ``build(cls)`` draws every field, then repairs
the combinations a constructor refuses (a Live Activity field without ``event``, ``*_loc_args``
without their key...), so most examples are valid without filtering.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import strategies as st

from unipush import Action, ApnsOptions, FcmOptions, Notification, WebPushOptions
from unipush._targets import Target
from unipush._validate import LATEST_UNIX_SECONDS, MAX_TTL_SECONDS
from unipush.apns import ApnsDevice
from unipush.apns._options import ApnsPushType
from unipush.fcm import FcmCondition, FcmDevice, FcmTopic
from unipush.webpush import WebPushSubscription
from unipush.webpush._crypto import b64url_encode
from unipush.webpush._options import OWNED_HEADERS

Draw = Callable[[st.SearchStrategy[Any]], Any]

text = st.text(min_size=1, max_size=12)
maybe_text = st.none() | text
# A collapse key or header value is an HTTP field value: no control characters, no surrounding space or tab
# (RFC 9110 §5.5, RFC 9113 §8.2.1), which the model checks at construction.
header_text = st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=12).filter(
    lambda value: value == value.strip(" \t")
)
word = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
url = st.builds("https://{}.example/{}".format, word, word)
maybe_url = st.none() | url
deep_link = st.none() | url | st.builds("myapp://orders/{}".format, word)
maybe_bool = st.none() | st.booleans()
unit = st.floats(min_value=0, max_value=1, allow_nan=False)
offsets = st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
aware = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets)
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
json_object = st.dictionaries(st.text(max_size=6), json_data, max_size=3)
str_tuple = st.lists(text, max_size=3).map(tuple)
topic_name = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", min_size=1, max_size=12)

FIELDS: dict[type, dict[str, st.SearchStrategy[Any]]] = {
    Action: {"id": text, "title": text, "icon": maybe_url, "deep_link": deep_link},
    Notification: {
        "title": maybe_text,
        "subtitle": maybe_text,
        "body": maybe_text,
        "image": maybe_url,
        "icon": maybe_url,
        "deep_link": deep_link,
        "actions": st.just(()),  # drawn by build(): ids must be unique
        "category": maybe_text,
        "thread_id": maybe_text,
        "badge": st.none() | st.integers(0, 2**31 - 1),
        "sound": maybe_text,
        "collapse_key": st.none() | header_text,
        "ttl": st.none()
        | st.integers(0, MAX_TTL_SECONDS)
        | st.integers(0, MAX_TTL_SECONDS).map(lambda seconds: timedelta(seconds=seconds)),
        "expires_at": st.none() | aware,
        "priority": st.sampled_from([None, "high", "normal"]),
        "data": st.dictionaries(
            word.filter(lambda key: key not in ("aps", "unipush")), st.text(max_size=8), max_size=3
        ),
        "content_available": st.booleans(),
        "apns": st.just(None),  # drawn by build()
        "fcm": st.just(None),
        "webpush": st.just(None),
    },
    ApnsOptions: {
        "push_type": st.none() | st.sampled_from(list(ApnsPushType)) | st.sampled_from([p.value for p in ApnsPushType]),
        "interruption_level": st.sampled_from([None, "passive", "active", "time-sensitive", "critical"]),
        "relevance_score": st.none() | unit,
        "target_content_id": maybe_text,
        "filter_criteria": maybe_text,
        "critical_sound": st.none() | st.just(True) | unit,
        "title_loc_key": maybe_text,
        "title_loc_args": str_tuple,
        "subtitle_loc_key": maybe_text,
        "subtitle_loc_args": str_tuple,
        "loc_key": maybe_text,
        "loc_args": str_tuple,
        "launch_image": maybe_text,
        "mutable_content": st.booleans(),
        "event": st.sampled_from([None, "start", "update", "end"]),
        "content_state": st.none() | json_object,
        "timestamp": st.none() | st.integers(0, LATEST_UNIX_SECONDS) | aware,
        "stale_date": st.none() | st.integers(0, LATEST_UNIX_SECONDS) | aware,
        "dismissal_date": st.none() | st.integers(0, LATEST_UNIX_SECONDS) | aware,
        "attributes_type": maybe_text,
        "attributes": st.none() | json_object,
        "input_push_token": st.booleans(),
        "input_push_channel": maybe_text,
        "extra": st.none()
        | st.dictionaries(word.filter(lambda key: key not in ("aps", "unipush")), json_data, max_size=2),
        "priority": st.sampled_from([None, 1, 5, 10]),
    },
    FcmOptions: {
        "channel_id": maybe_text,
        "icon": maybe_text,
        "color": st.none() | st.builds("#{:06x}".format, st.integers(0, 0xFFFFFF)),
        "tag": maybe_text,
        "click_action": maybe_text,
        "notification_priority": st.sampled_from([None, "min", "low", "default", "high", "max"]),
        "visibility": st.sampled_from([None, "private", "public", "secret"]),
        "notification_count": st.none() | st.integers(0, 2**31 - 1),
        "sticky": maybe_bool,
        "local_only": maybe_bool,
        "ticker": maybe_text,
        "event_time": st.none() | aware,
        "vibrate_timings": st.none()
        | st.lists(
            st.integers(0, 60)
            | st.floats(0, 60, allow_nan=False)
            | st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=1)),
            max_size=4,
        ).map(tuple),
        "default_sound": maybe_bool,
        "title_loc_key": maybe_text,
        "title_loc_args": str_tuple,
        "body_loc_key": maybe_text,
        "body_loc_args": str_tuple,
        "direct_boot_ok": maybe_bool,
        "restricted_package_name": maybe_text,
        "live_activity_token": maybe_text,
        "analytics_label": st.none() | st.text(alphabet=string.ascii_letters + "-_.~%", min_size=1, max_size=50),
        "validate_only": st.booleans(),
        "android": st.none() | json_object,
        "apns": st.none() | json_object,
        "webpush": st.none() | json_object,
        "message": st.none()
        | st.dictionaries(word.filter(lambda key: key not in ("token", "topic", "condition", "fid")), json_data),
    },
    WebPushOptions: {
        "urgency": st.sampled_from([None, "very-low", "low", "normal", "high"]),
        "topic": st.none()
        | st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=32).filter(
            lambda topic: len(topic) % 4 != 1
        ),
        "require_interaction": maybe_bool,
        "renotify": maybe_bool,
        "silent": maybe_bool,
        "vibrate": st.lists(st.integers(0, 2**32 - 1), max_size=4).map(tuple),
        "lang": st.sampled_from([None, "en", "en-GB", "zh-Hant-TW"]),
        "dir": st.sampled_from([None, "auto", "ltr", "rtl"]),
        "badge": maybe_url,
        "timestamp": st.none() | aware,
        "mutable": maybe_bool,
        "payload_format": st.sampled_from(["declarative", "json", "raw"]),
        "raw_payload": st.binary(max_size=24),
        "extra_headers": st.dictionaries(
            st.from_regex(r"x-[a-z0-9-]{1,10}", fullmatch=True).filter(lambda name: name not in OWNED_HEADERS),
            st.just("") | header_text,
            max_size=2,
        ),
    },
    ApnsDevice: {"token": st.binary(min_size=32, max_size=100).map(bytes.hex)},
    FcmDevice: {
        "token": st.text(
            alphabet=st.characters(blacklist_categories=("Z", "Cc", "Cs")), min_size=1, max_size=200
        ).filter(lambda token: not any(c.isspace() for c in token)),
    },
    FcmTopic: {"name": topic_name | topic_name.map("/topics/{}".format)},
    FcmCondition: {
        "expr": st.lists(topic_name, min_size=1, max_size=5).flatmap(
            lambda names: st.lists(
                st.sampled_from([" && ", " || "]), min_size=len(names) - 1, max_size=len(names) - 1
            ).map(lambda ops: "".join(f"{op}'{name}' in topics" for op, name in zip(["", *ops], names, strict=True)))
        ),
    },
}

_P256DH = [
    b64url_encode(
        ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    for _ in range(3)
]
FIELDS[WebPushSubscription] = {
    "endpoint": st.builds("https://push.example.net/{}/{}".format, word, word),
    "p256dh": st.sampled_from(_P256DH),
    "auth": st.binary(min_size=16, max_size=16).map(b64url_encode),
    "expiration_time": st.none()
    | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets),
}

TARGET_CLASSES: tuple[type[Target], ...] = (ApnsDevice, FcmDevice, FcmTopic, FcmCondition, WebPushSubscription)


def _repair_apns(draw: Draw, kwargs: dict[str, Any]) -> None:
    for key, args in (
        ("title_loc_key", "title_loc_args"),
        ("subtitle_loc_key", "subtitle_loc_args"),
        ("loc_key", "loc_args"),
    ):
        if kwargs[key] is None:
            kwargs[args] = ()
    if kwargs["critical_sound"] is not None and kwargs["interruption_level"] not in (None, "critical"):
        kwargs["interruption_level"] = "critical"
    event = kwargs["event"]
    live = ApnsPushType.LIVEACTIVITY
    if event is None:
        if kwargs["push_type"] in (live, live.value):
            kwargs["push_type"] = None
        for name in (
            "content_state",
            "timestamp",
            "stale_date",
            "dismissal_date",
            "attributes_type",
            "attributes",
            "input_push_channel",
        ):
            kwargs[name] = None
        kwargs["input_push_token"] = False
        return
    kwargs["push_type"] = draw(st.sampled_from([None, live, live.value]))
    if kwargs["priority"] == 1:
        kwargs["priority"] = None  # Live Activities use priority 5 or 10 only
    if event == "start":
        kwargs["attributes_type"] = kwargs["attributes_type"] or "OrderAttributes"
        kwargs["attributes"] = draw(json_object) if kwargs["attributes"] is None else kwargs["attributes"]
    else:
        kwargs.update(attributes_type=None, attributes=None, input_push_token=False, input_push_channel=None)
    if event in ("start", "update") and kwargs["content_state"] is None:
        kwargs["content_state"] = draw(json_object)
    if event != "end":
        kwargs["dismissal_date"] = None


def _repair_fcm(draw: Draw, kwargs: dict[str, Any]) -> None:
    for key, args in (("title_loc_key", "title_loc_args"), ("body_loc_key", "body_loc_args")):
        if kwargs[key] is None:
            kwargs[args] = ()


def _repair_webpush(draw: Draw, kwargs: dict[str, Any]) -> None:
    if kwargs["payload_format"] != "raw":
        kwargs["raw_payload"] = None
    if kwargs["silent"]:
        kwargs["vibrate"] = ()


def _repair_notification(draw: Draw, kwargs: dict[str, Any]) -> None:
    actions = draw(st.lists(build(Action), max_size=3, unique_by=lambda action: action.id))
    kwargs["actions"] = tuple(actions)
    for name, cls in (("apns", ApnsOptions), ("fcm", FcmOptions), ("webpush", WebPushOptions)):
        kwargs[name] = draw(st.none() | build(cls))


_REPAIRS: dict[type, Callable[[Draw, dict[str, Any]], None]] = {
    ApnsOptions: _repair_apns,
    FcmOptions: _repair_fcm,
    WebPushOptions: _repair_webpush,
    Notification: _repair_notification,
}


def build(cls: type) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with every field drawn from ``FIELDS[cls]``, repaired to be valid."""

    @st.composite
    def instances(draw: Draw) -> Any:
        kwargs = {name: draw(strategy) for name, strategy in FIELDS[cls].items()}
        repair = _REPAIRS.get(cls)
        if repair is not None:
            repair(draw, kwargs)
        return cls(**kwargs)

    return instances()


def init_fields(cls: type) -> set[str]:
    """The names of a dataclass's constructor fields."""
    return {field.name for field in dataclasses.fields(cls) if field.init}


notifications = build(Notification)
targets = st.one_of([build(cls) for cls in TARGET_CLASSES])
