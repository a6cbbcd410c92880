"""The portable form (docs/serialization.md): ``Notification.to_dict``/``from_dict``, ``Target.to_dict``,
``target_from_dict``, and the JSON Schemas shipped in ``unipush/schema/``.

The schemas are generated from the serializer's own field table (``unipush._serialize``); the shipped
files must equal what the table makes, and every ``to_dict()`` output must validate against them. The
check uses ``validate`` below, a small validator of exactly the draft 2020-12 keywords the schemas use
(it refuses any other keyword, so it cannot silently skip one); ``jsonschema`` is not a dependency.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.model_strategies import FIELDS, TARGET_CLASSES, build, init_fields, notifications, targets
from tests.support import subscription
from tests.test_plugins import install_fake_distribution
from unipush import (
    Action,
    ApnsOptions,
    ConfigurationError,
    FcmOptions,
    Notification,
    Target,
    ValidationError,
    WebPushOptions,
    _serialize,
    target_from_dict,
)
from unipush.apns import ApnsChannel, ApnsDevice
from unipush.fcm import FcmCondition, FcmDevice, FcmTopic
from unipush.webpush import WebPushSubscription

TOKEN = "ab" * 32
MODEL_CLASSES = (Notification, Action, ApnsOptions, FcmOptions, WebPushOptions)

# -- a validator of the schema keywords the shipped schemas use -------------------------------------

_ANNOTATIONS = {"$schema", "title", "description", "format", "contentEncoding", "$defs"}
_JSON_TYPES: dict[str, Any] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def errors(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any], at: str = "$") -> Iterator[str]:
    """Where ``instance`` breaks ``schema`` (draft 2020-12 semantics for the keywords below)."""
    unknown = set(schema) - _ANNOTATIONS - {
        "$ref", "type", "const", "enum", "properties", "required", "additionalProperties", "items", "anyOf",
        "oneOf", "pattern",
    }  # fmt: skip
    assert not unknown, f"the test validator does not know {unknown} (at {at})"
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        yield from errors(instance, root["$defs"][ref.removeprefix("#/$defs/")], root, at)
    if "type" in schema and not _JSON_TYPES[schema["type"]](instance):
        yield f"{at}: not of type {schema['type']}"
        return
    if "const" in schema and not (instance == schema["const"] and type(instance) is type(schema["const"])):
        yield f"{at}: must be {schema['const']!r}"
    if "enum" in schema and instance not in schema["enum"]:
        yield f"{at}: {instance!r} is not one of {schema['enum']}"
    if "pattern" in schema and isinstance(instance, str) and not re.search(schema["pattern"], instance):
        yield f"{at}: does not match {schema['pattern']}"
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in instance:
                yield f"{at}: {key} is required"
        for key, value in instance.items():
            if key in properties:
                yield from errors(value, properties[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                yield f"{at}: {key} is not allowed"
            elif isinstance(schema.get("additionalProperties"), dict):
                yield from errors(value, schema["additionalProperties"], root, f"{at}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            yield from errors(item, schema["items"], root, f"{at}[{index}]")
    if "anyOf" in schema and not any(not list(errors(instance, s, root, at)) for s in schema["anyOf"]):
        yield f"{at}: matches none of anyOf"
    if "oneOf" in schema:
        matched = sum(not list(errors(instance, s, root, at)) for s in schema["oneOf"])
        if matched != 1:
            yield f"{at}: matches {matched} branches of oneOf, not exactly one"


def validate(instance: Any, schema: Mapping[str, Any]) -> list[str]:
    return list(errors(instance, schema, schema))


NOTIFICATION_SCHEMA = _serialize.shipped_schema("notification")
TARGET_SCHEMA = _serialize.shipped_schema("target")


def via_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


# -- the round trip, over every field of every model class and target ------------------------------


def test_the_strategies_cover_every_field_of_every_class() -> None:
    # A field added to the model without a strategy here would escape the round-trip property.
    reachable = {codec.cls for codec in _reachable_models(_serialize._codec_for(Notification))}
    assert reachable == set(MODEL_CLASSES)
    for cls in (*MODEL_CLASSES, *TARGET_CLASSES):
        assert set(FIELDS[cls]) == init_fields(cls), cls.__name__


def _reachable_models(codec: Any) -> Iterator[Any]:
    if isinstance(codec, _serialize._Model):
        yield codec
        for field in codec.fields.values():
            yield from _reachable_models(field.codec)
    for attribute in ("branches", "item"):
        for inner in (lambda v: v if isinstance(v, tuple) else (v,))(getattr(codec, attribute, ())):
            yield from _reachable_models(inner)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notifications)
def test_notification_round_trips_through_json(notification: Notification) -> None:
    form = notification.to_dict()
    text = json.dumps(form, allow_nan=False)  # plain JSON types only
    assert Notification.from_dict(json.loads(text)) == notification
    assert json.loads(text) == form  # nothing json.dumps would change (tuples, enums, proxies)
    assert validate(form, NOTIFICATION_SCHEMA) == []


@settings(max_examples=300, deadline=None)
@given(targets)
def test_target_round_trips_through_json(target: Target) -> None:
    form = target.to_dict()
    text = json.dumps(form, allow_nan=False)
    restored = target_from_dict(json.loads(text))
    assert restored == target
    assert type(restored) is type(target)
    assert json.loads(text) == form
    assert validate(form, TARGET_SCHEMA) == []


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(MODEL_CLASSES[1:]).flatmap(build))
def test_option_blocks_and_actions_round_trip_alone(block: Any) -> None:
    codec = _serialize._codec_for(type(block))
    form = via_json(codec.encode(block))
    assert codec.decode(form, "x") == block


def test_defaults_are_omitted() -> None:
    assert Notification().to_dict() == {"v": 1}
    assert Notification(apns=ApnsOptions(), fcm=FcmOptions(), webpush=WebPushOptions()).to_dict() == {
        "v": 1,
        "apns": {},
        "fcm": {},
        "webpush": {},
    }
    # A value equal to the default but of another type is kept (False is not None for fcm.sticky).
    assert Notification(fcm=FcmOptions(sticky=False)).to_dict() == {"v": 1, "fcm": {"sticky": False}}


# -- golden dicts: the form is a contract; these must not change within v1 ------------------------


def test_golden_notification() -> None:
    notification = Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="myapp://orders/1234",
        actions=[Action("track", "Track", deep_link="https://shop.example/t/1234")],
        badge=1,
        ttl=timedelta(hours=1),
        priority="high",
        data={"order": "1234"},
        apns=ApnsOptions(push_type="alert", interruption_level="time-sensitive", relevance_score=0.5),
        fcm=FcmOptions(
            channel_id="orders",
            event_time=datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
            vibrate_timings=(0.5, timedelta(milliseconds=250)),
        ),
        webpush=WebPushOptions(urgency="high", payload_format="raw", raw_payload=b"\x00\xffhi", vibrate=(100, 50)),
    )
    golden = {
        "v": 1,
        "title": "Order shipped",
        "body": "#1234 is on its way",
        "deep_link": "myapp://orders/1234",
        "actions": [{"id": "track", "title": "Track", "deep_link": "https://shop.example/t/1234"}],
        "badge": 1,
        "ttl": 3600,
        "priority": "high",
        "data": {"order": "1234"},
        "apns": {"push_type": "alert", "interruption_level": "time-sensitive", "relevance_score": 0.5},
        "fcm": {"channel_id": "orders", "event_time": "2026-12-01T09:30:00+00:00", "vibrate_timings": [0.5, "PT0.25S"]},
        "webpush": {"urgency": "high", "vibrate": [100, 50], "payload_format": "raw", "raw_payload": "AP9oaQ"},
    }
    assert notification.to_dict() == golden
    assert Notification.from_dict(golden) == notification


def test_golden_live_activity() -> None:
    notification = Notification(
        apns=ApnsOptions(
            event="update",
            content_state={"eta": 5, "driver": {"name": "Ana"}},
            timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
            stale_date=1767229200,
        )
    )
    golden = {
        "v": 1,
        "apns": {
            "event": "update",
            "content_state": {"eta": 5, "driver": {"name": "Ana"}},
            "timestamp": 1767225600,
            "stale_date": 1767229200,
        },
    }
    assert notification.to_dict() == golden
    assert Notification.from_dict(golden) == notification


def test_golden_targets() -> None:
    sub = subscription()
    cases: list[tuple[Target, dict[str, Any]]] = [
        (ApnsDevice(TOKEN.upper()), {"v": 1, "provider": "apns", "type": "device", "token": TOKEN}),
        (FcmDevice("fcm-token-1"), {"v": 1, "provider": "fcm", "type": "device", "token": "fcm-token-1"}),
        (FcmTopic("/topics/news"), {"v": 1, "provider": "fcm", "type": "topic", "name": "news"}),
        (
            FcmCondition("'a' in topics && 'b' in topics"),
            {"v": 1, "provider": "fcm", "type": "condition", "expr": "'a' in topics && 'b' in topics"},
        ),
        (
            sub,
            {
                "v": 1,
                "provider": "webpush",
                "type": "subscription",
                "endpoint": sub.endpoint,
                "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
                "expirationTime": None,
            },
        ),
    ]
    for target, golden in cases:
        assert target.to_dict() == golden
        assert target_from_dict(golden) == target


# -- Web Push: the browser's JSON and unipush's form --------------------------------------------------


def test_webpush_form_is_the_browsers_json_plus_three_keys() -> None:
    sub = subscription()
    expiring = WebPushSubscription(
        sub.endpoint, sub.p256dh, sub.auth, datetime(2026, 1, 1, 0, 0, 0, 1500, timezone.utc)
    )
    form = expiring.to_dict()
    browser = {key: form[key] for key in ("endpoint", "keys", "expirationTime")}
    assert form["expirationTime"] == 1767225600001.5  # epoch ms, exact to the microsecond
    assert WebPushSubscription.from_dict(browser) == expiring  # the browser's reader reads it
    assert WebPushSubscription.from_dict(form) == expiring
    assert WebPushSubscription.from_dict(json.dumps(form)) == expiring
    assert target_from_dict(form) == expiring


def test_webpush_from_dict_reads_its_own_form_strictly() -> None:
    form = {**subscription().to_dict(), "extra": True}
    with pytest.raises(ValidationError, match=r"^target\.extra: is not a field of WebPushSubscription"):
        WebPushSubscription.from_dict(form)
    browser = {key: form[key] for key in ("endpoint", "keys", "expirationTime")}
    assert WebPushSubscription.from_dict({**browser, "extra": True}) == subscription()  # browsers add members
    with pytest.raises(ValidationError, match=r"^target\.provider: must be 'webpush'"):
        WebPushSubscription.from_dict(ApnsDevice(TOKEN).to_dict())


# -- refusals: one line, naming the key path ----------------------------------------------------------

REFUSED_NOTIFICATIONS = [
    ({}, r"notification\.v: is required"),
    ({"v": 2}, r"notification\.v: must be 1"),
    ({"v": "1"}, r"notification\.v: must be 1"),
    ({"v": True}, r"notification\.v: must be 1"),
    ({"v": 1, "titel": "x"}, r"notification\.titel: is not a field of Notification"),
    ({"v": 1, "title": 5}, r"notification\.title: must be a string or null, got integer"),
    ({"v": 1, "title": ""}, r"notification\.title: must not be empty"),
    ({"v": 1, "ttl": "3600"}, r"notification\.ttl: must be an ISO-8601 duration in seconds such as 'PT1.5S'"),
    ({"v": 1, "ttl": 3600.0}, r"notification\.ttl: must be an integer or an ISO-8601 duration .* or null, got number"),
    ({"v": 1, "ttl": 10**9}, r"notification\.ttl: must be between 0 and"),
    ({"v": 1, "badge": True}, r"notification\.badge: must be an integer or null, got boolean"),
    ({"v": 1, "priority": "urgent"}, r"notification\.priority: must be one of 'high', 'normal', got 'urgent'"),
    ({"v": 1, "content_available": 1}, r"notification\.content_available: must be a boolean, got integer"),
    ({"v": 1, "data": ["a"]}, r"notification\.data: must be an object, got array"),
    ({"v": 1, "data": {"k": 1}}, r"notification\.data\['k'\]: must be a string"),
    ({"v": 1, "data": {"aps": "x"}}, r"notification\.data: the key 'aps' is reserved"),
    ({"v": 1, "actions": {"id": "a"}}, r"notification\.actions: must be an array, got object"),
    ({"v": 1, "actions": ["a"]}, r"notification\.actions\[0\]: must be an object \(Action\), got string"),
    ({"v": 1, "actions": [{"id": "a"}]}, r"notification\.actions\[0\]\.title: is required"),
    ({"v": 1, "actions": [{"id": "a", "title": ""}]}, r"notification\.actions\[0\]\.title: must not be empty"),
    ({"v": 1, "actions": [{"id": "a", "title": "A", "x": 1}]}, r"notification\.actions\[0\]\.x: is not a field"),
    (
        {"v": 1, "actions": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]},
        r"notification\.actions\[1\]\.id: duplicates id 'a'",
    ),
    ({"v": 1, "apns": None}, r"notification\.apns: must be an object \(ApnsOptions\) or null|^$"),
    ({"v": 1, "apns": {"interruption_level": "loud"}}, r"notification\.apns\.interruption_level: must be one of"),
    ({"v": 1, "apns": {"interruption_level": 3}}, r"notification\.apns\.interruption_level: must be one of"),
    ({"v": 1, "apns": {"push_type": "sms"}}, r"notification\.apns\.push_type: must be one of"),
    ({"v": 1, "apns": {"priority": 7}}, r"notification\.apns\.priority: must be 1, 5 or 10"),
    ({"v": 1, "apns": {"timestamp": "yesterday"}}, r"notification\.apns\.timestamp: must be an ISO-8601 date-time"),
    ({"v": 1, "apns": {"content_state": {}}}, r"notification\.apns\.content_state: is a Live Activity field"),
    ({"v": 1, "apns": {"bogus": 1}}, r"notification\.apns\.bogus: is not a field of ApnsOptions"),
    ({"v": 1, "fcm": {"event_time": "2026-01-01T00:00:00"}}, r"notification\.fcm\.event_time: must be timezone-aware"),
    (
        {"v": 1, "fcm": {"vibrate_timings": ["1s"]}},
        r"notification\.fcm\.vibrate_timings\[0\]: must be an ISO-8601 duration",
    ),
    ({"v": 1, "fcm": {"color": "red"}}, r"notification\.fcm\.color: must be a colour"),
    ({"v": 1, "fcm": {"message": {"token": "t"}}}, r"notification\.fcm\.message: must not set the recipient"),
    ({"v": 1, "webpush": {"raw_payload": "a+b"}}, r"notification\.webpush\.raw_payload: must be base64url"),
    ({"v": 1, "webpush": {"raw_payload": "AA"}}, r"notification\.webpush\.raw_payload: is only used with"),
    ({"v": 1, "webpush": {"vibrate": [1.5]}}, r"notification\.webpush\.vibrate\[0\]: must be an integer, got number"),
    ({"v": 1, "webpush": {"extra_headers": {"TTL": "1"}}}, r"notification\.webpush\.extra_headers\['TTL'\]: is set by"),
    ([], r"notification: must be a JSON object \(a dict\), got array"),
]


@pytest.mark.parametrize(("data", "message"), REFUSED_NOTIFICATIONS)
def test_notification_from_dict_refuses(data: Any, message: str) -> None:
    if data == {"v": 1, "apns": None}:
        assert Notification.from_dict(data) == Notification()  # null is the absent block
        return
    with pytest.raises(ValidationError, match="^" + message) as caught:
        Notification.from_dict(data)
    assert "\n" not in str(caught.value)
    assert caught.value.field.startswith("notification")


REFUSED_TARGETS = [
    ({"provider": "apns", "type": "device", "token": TOKEN}, r"target\.v: is required"),
    ({"v": 0, "provider": "apns", "type": "device", "token": TOKEN}, r"target\.v: must be 1"),
    ({"v": 1, "type": "device", "token": TOKEN}, r"target\.provider: is required"),
    ({"v": 1, "provider": 3, "type": "device"}, r"target\.provider: must be a provider name"),
    ({"v": 1, "provider": "nosuch", "type": "device"}, r"target\.provider: no provider named 'nosuch' is installed"),
    ({"v": 1, "provider": "apns", "token": TOKEN}, r"target\.type: is required \(one of 'device', 'channel'\)"),
    (
        {"v": 1, "provider": "fcm", "type": "group", "token": "t"},
        r"target\.type: must be one of 'device', 'topic', 'condition'",
    ),
    ({"v": 1, "provider": "apns", "type": "device"}, r"target\.token: is required"),
    ({"v": 1, "provider": "apns", "type": "device", "token": "zz"}, r"target\.token: must be hexadecimal"),
    ({"v": 1, "provider": "apns", "type": "device", "token": 5}, r"target\.token: must be a string, got integer"),
    (
        {"v": 1, "provider": "apns", "type": "device", "token": TOKEN, "x": 1},
        r"target\.x: is not a field of ApnsDevice",
    ),
    ({"v": 1, "provider": "fcm", "type": "topic", "name": "a b"}, r"target\.topic: topic name must use only"),
    (
        {"v": 1, "provider": "webpush", "type": "subscription", "endpoint": "https://x.example/"},
        r"target\.keys: is required",
    ),
    (
        {
            "v": 1,
            "provider": "webpush",
            "type": "subscription",
            "endpoint": "https://x.example/",
            "keys": {"p256dh": "AA"},
        },
        r"target\.keys\.auth: is required",
    ),
    (
        {
            "v": 1,
            "provider": "webpush",
            "type": "subscription",
            "endpoint": "https://x.example/",
            "keys": {"p256dh": "AA", "auth": "AA"},
        },
        r"target\.keys\.p256dh: must decode to 65 bytes",
    ),
    (
        {
            "v": 1,
            "provider": "webpush",
            "type": "subscription",
            "endpoint": "https://x.example/",
            "keys": {"p256dh": "AA", "auth": "AA", "z": ""},
        },
        r"target\.keys\.z: is not a key",
    ),
    ("{}", r"target: must be a JSON object"),
]


@pytest.mark.parametrize(("data", "message"), REFUSED_TARGETS)
def test_target_from_dict_refuses(data: Any, message: str) -> None:
    with pytest.raises(ValidationError, match="^" + message) as caught:
        target_from_dict(data)
    assert "\n" not in str(caught.value)


def test_webpush_expiration_is_checked() -> None:
    form = subscription().to_dict()
    with pytest.raises(ValidationError, match=r"^target\.expirationTime: must be epoch milliseconds or null"):
        target_from_dict({**form, "expirationTime": "soon"})
    with pytest.raises(ValidationError, match=r"^target\.expirationTime: is out of range"):
        target_from_dict({**form, "expirationTime": 10**20})


# -- the schema agrees with the serializer -------------------------------------------------------------


def test_shipped_schemas_are_what_the_field_table_generates() -> None:
    # Regenerate with: python -c "from unipush._serialize import write_schemas; write_schemas()"
    assert _serialize.notification_schema() == NOTIFICATION_SCHEMA
    assert _serialize.target_schema() == TARGET_SCHEMA
    assert NOTIFICATION_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_lists_every_field_enum_and_required_key() -> None:
    defs = NOTIFICATION_SCHEMA["$defs"]
    for cls in MODEL_CLASSES:
        schema = NOTIFICATION_SCHEMA if cls is Notification else defs[cls.__name__]
        fields = init_fields(cls) | ({"v"} if cls is Notification else set())
        assert set(schema["properties"]) == fields, cls.__name__
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(schema.get("required", ())) == required | ({"v"} if cls is Notification else set())
        assert schema["additionalProperties"] is False
    enums = {
        ("Notification", "priority"): ["high", "normal"],
        ("ApnsOptions", "interruption_level"): ["passive", "active", "time-sensitive", "critical"],
        ("ApnsOptions", "event"): ["start", "update", "end"],
        ("FcmOptions", "visibility"): ["private", "public", "secret"],
        ("WebPushOptions", "urgency"): ["very-low", "low", "normal", "high"],
        ("WebPushOptions", "payload_format"): ["declarative", "json", "raw"],
    }
    for (owner, name), values in enums.items():
        schema = NOTIFICATION_SCHEMA if owner == "Notification" else defs[owner]
        assert (
            schema["properties"][name]["anyOf"][0]["enum"] == values
            if "anyOf" in schema["properties"][name]
            else schema["properties"][name]["enum"] == values
        )
    push_types = defs["ApnsOptions"]["properties"]["push_type"]["anyOf"][0]["enum"]
    assert push_types == list(get_args(__import__("unipush.apns._options", fromlist=["PushTypeName"]).PushTypeName))


@pytest.mark.parametrize(("data", "message"), [case for case in REFUSED_NOTIFICATIONS if isinstance(case[0], dict)])
def test_schema_refuses_what_from_dict_refuses_for_shape(data: dict[str, Any], message: str) -> None:
    # Key, type, enum and required errors are the schema's too; range and cross-field rules
    # (ttl bounds, duplicate ids, Live Activity rules) are the constructors' alone.
    shape_rules = ("is required", "must be 1", "is not a field", "must be a", "must be an", "must be one of")
    if data == {"v": 1, "apns": None}:
        assert validate(data, NOTIFICATION_SCHEMA) == []
    elif any(rule in message for rule in shape_rules) and not re.search("timezone|colour|ISO-8601", message):
        assert validate(data, NOTIFICATION_SCHEMA) != [], data


@pytest.mark.parametrize(("data", "message"), [case for case in REFUSED_TARGETS if isinstance(case[0], dict)])
def test_target_schema_refuses_what_from_dict_refuses_for_shape(data: dict[str, Any], message: str) -> None:
    if "decode to 65 bytes" in message or "hexadecimal" in message or "topic name" in message:
        return  # value rules of the constructors
    assert validate(data, TARGET_SCHEMA) != [], data


# -- plugins register their target types through the entry point --------------------------------------


@pytest.fixture
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install_fake_distribution(
        tmp_path / "site",
        "relay-plugin",
        {
            "relay": "tests.fake_plugin:Relay",
            "relay-fn": "tests.fake_plugin:failing_factory",
            "relay-property": "tests.fake_plugin:PropertyTypes",
            "relay-broken": "tests.no_such_module:Relay",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    _serialize._TARGET_TYPES.clear()
    yield
    _serialize._TARGET_TYPES.clear()


def test_a_plugin_target_travels(plugin_installed: None) -> None:
    from tests.fake_plugin import RelayDevice

    device = RelayDevice("relay-token")
    form = device.to_dict()
    assert form == {"v": 1, "provider": "relay", "type": "device", "token": "relay-token"}
    assert target_from_dict(via_json(form)) == device
    schema = _serialize.target_schema([RelayDevice])
    assert validate(form, schema) == []


@pytest.mark.parametrize("name", ["relay-fn", "relay-property"])
def test_a_plugin_without_target_types_is_named(plugin_installed: None, name: str) -> None:
    message = rf"^target\.provider: provider '{name}' .* does not declare target_types as a class attribute"
    with pytest.raises(ValidationError, match=message):
        target_from_dict({"v": 1, "provider": name, "type": "device", "token": "t"})


def test_a_plugin_that_cannot_be_imported_is_named(plugin_installed: None) -> None:
    with pytest.raises(ValidationError, match=r"^target\.provider: provider 'relay-broken' .* could not be loaded"):
        target_from_dict({"v": 1, "provider": "relay-broken", "type": "device", "token": "t"})


def test_a_target_that_is_not_a_dataclass_must_write_its_own_form() -> None:
    class Opaque(Target):
        provider = "relay"

        @property
        def key(self) -> str:
            return "opaque"

    with pytest.raises(ConfigurationError, match="Opaque is not a dataclass"):
        Opaque().to_dict()


def test_target_types_are_read_without_building_the_provider() -> None:
    # APNs/FCM need credentials to be built; reading a target needs none.
    assert dict(_serialize.provider_target_types("fcm")) == {
        "device": FcmDevice,
        "topic": FcmTopic,
        "condition": FcmCondition,
    }
    assert dict(_serialize.provider_target_types("apns")) == {"device": ApnsDevice, "channel": ApnsChannel}
    assert dict(_serialize.provider_target_types("webpush")) == {"subscription": WebPushSubscription}
