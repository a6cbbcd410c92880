"""Property (issue 8, items 2, 5 and 9): whatever is passed to a public constructor, and whatever
notification is rendered for whichever provider, nothing but ``UnipushError`` escapes; and every header
unipush writes or has FCM forward is a valid HTTP/2 field value (RFC 9113 §8.2.1).

The inputs are deliberately wild: text with lone surrogates and control characters, URLs with broken
hosts and ports, wrong types, huge and negative numbers, NaN, and datetimes from year 1 to 9999 with
offsets up to ±23:59 (naive too). A test fails if any other exception comes out.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import all_providers_client, all_targets, pem, service_account, subscription
from unipush import (
    FCM,
    Action,
    APNs,
    ApnsChannel,
    ApnsDevice,
    ApnsOptions,
    FcmCondition,
    FcmDevice,
    FcmOptions,
    FcmTopic,
    FileStore,
    MemoryStore,
    Notification,
    PruningGuard,
    RedisStore,
    RetryBudget,
    RetryPolicy,
    StoredCredential,
    UnipushError,
    WebPush,
    WebPushOptions,
    WebPushSubscription,
    target_from_dict,
)
from unipush.apns import ProviderTokenSigner
from unipush.policies import Deduplicate, FrequencyCap, QuietHours, RedisPolicyStore

# A few hundred examples in all, a few seconds on a slow CI machine.
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECIAL = ["\ud800", "\udfff", "\r", "\n", "\x00", "\x1f", "\x7f", "\t", " ", "é", "🚀", "/", ":", "[", "%"]
wild_text = st.text(alphabet=st.characters() | st.sampled_from(SPECIAL), max_size=30)
plain_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=30)
url_like = st.builds(
    "{}{}{}".format,
    st.sampled_from(["https://", "http://", "HTTPS://", "myapp://", "https:", "", "javascript:"]),
    st.sampled_from(["a.example", "[::1", "[::1]", "localhost", "10.0.0.1", "a.example:99999", "a.example:x", ""]),
    st.sampled_from(["/", "/a.png", "?q=1", "#f", ""]) | wild_text,
)
fixed_offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
any_datetime = st.sampled_from(
    [
        datetime.max.replace(tzinfo=timezone(-timedelta(hours=23, minutes=59))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=23, minutes=59))),
        datetime.max,
        datetime.min.replace(tzinfo=timezone.utc),
    ]
) | st.datetimes(timezones=st.none() | fixed_offsets.map(timezone))
numbers = (
    st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63, 2**31, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
)
wrong_types = st.sampled_from([{}, [], (), b"x", bytearray(b"x"), object(), {1, 2}, 1j, Ellipsis])
json_like = st.recursive(
    st.none() | st.booleans() | numbers | wild_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(wild_text, inner, max_size=3),
    max_leaves=6,
)
_wild = (
    st.none()
    | wild_text
    | url_like
    | numbers
    | st.booleans()
    | any_datetime
    | st.timedeltas()
    | wrong_types
    | json_like
    | st.lists(wild_text, max_size=3)
)
# deferred() keeps the strategy's repr one short line (hypothesis prints it on failures).
wild = st.deferred(lambda: _wild)

APNS_KEY = pem(ec.generate_private_key(ec.SECP256R1()))
VAPID_KEY = pem(ec.generate_private_key(ec.SECP256R1()))
# Paths under a directory that does not exist, so a wild "path" never reads a real file.
missing_paths = wild_text.map(lambda t: f"no-such-dir-unipush/{t}") | st.sampled_from(
    ["~nosuchuser/key.p8", "~nosuchuser", "\udfff.p8", "no\x00such.p8", "-----BEGIN PRIVATE KEY-----\n\udfff"]
)


def kwargs_for(
    names: list[str], plausible: Mapping[str, st.SearchStrategy[Any]], *, required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments: each name left out, or a plausible value, or a wild one."""

    def value(name: str) -> st.SearchStrategy[Any]:
        return plausible[name] | wild if name in plausible else wild

    return st.fixed_dictionaries(
        {name: value(name) for name in required},
        optional={name: value(name) for name in names if name not in required},
    )


def field_names(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return [name for name in inspect.signature(cls).parameters if name != "self"]


OPTION_PLAUSIBLE: dict[type, dict[str, st.SearchStrategy[Any]]] = {
    ApnsOptions: {
        "push_type": st.sampled_from(["alert", "background", "voip", "liveactivity"]),
        "event": st.sampled_from(["start", "update", "end"]),
        "content_state": st.dictionaries(plain_text, plain_text, max_size=2),
        "loc_key": plain_text,
        "loc_args": st.lists(plain_text, max_size=2),
        "timestamp": st.integers(min_value=0, max_value=2**34),
        "relevance_score": st.floats(0, 1),
    },
    FcmOptions: {
        "channel_id": plain_text,
        "event_time": st.datetimes(timezones=st.just(timezone.utc)),
        "vibrate_timings": st.lists(st.floats(0, 10), max_size=2),
        "apns": st.fixed_dictionaries({"headers": st.dictionaries(st.just("apns-collapse-id"), wild_text)}),
        "webpush": st.fixed_dictionaries(
            {"headers": st.dictionaries(st.sampled_from(["Topic", "Urgency"]), wild_text)}
        ),
        "message": st.fixed_dictionaries({"notification": st.dictionaries(plain_text, json_like, max_size=2)}),
    },
    WebPushOptions: {
        "urgency": st.sampled_from(["low", "high"]),
        "topic": st.sampled_from(["abcd", "a", "x" * 33]),
        "timestamp": any_datetime,
        "badge": url_like,
        "vibrate": st.lists(st.integers(-1, 2**33), max_size=3),
        "extra_headers": st.dictionaries(st.sampled_from(["x-a", "X-A", "bad name", "ttl"]), wild_text, max_size=2),
        "payload_format": st.sampled_from(["declarative", "json", "raw"]),
        "raw_payload": st.binary(max_size=50),
    },
}


def built(cls: type, kwargs: dict[str, Any]) -> Any:
    """``cls(**kwargs)``, or ``None`` when it raised a ``UnipushError`` (anything else fails the test)."""
    try:
        return cls(**kwargs)
    except UnipushError:
        return None


def options(cls: type) -> st.SearchStrategy[Any]:
    return kwargs_for(field_names(cls), OPTION_PLAUSIBLE[cls]).map(lambda kw: built(cls, kw))


actions = st.lists(
    kwargs_for(
        ["id", "title", "icon", "deep_link"],
        {"id": plain_text, "title": plain_text, "icon": url_like, "deep_link": url_like},
        required=("id", "title"),
    ).map(lambda kw: built(Action, kw)),
    max_size=3,
).map(lambda found: [a for a in found if a is not None])

NOTIFICATION_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "title": plain_text,
    "body": plain_text,
    "subtitle": plain_text,
    "deep_link": st.sampled_from(["https://shop.example/o/1", "myapp://o/1"]) | url_like,
    "image": st.just("https://cdn.example/a.png") | url_like,
    "icon": url_like,
    "actions": actions,
    "badge": st.integers(-1, 2**32),
    "collapse_key": plain_text | wild_text,
    "ttl": st.integers(-1, 3_000_000) | st.timedeltas(),
    "expires_at": any_datetime,
    "priority": st.sampled_from(["high", "normal", "urgent"]),
    "data": st.dictionaries(wild_text, wild_text, max_size=3) | st.dictionaries(plain_text, plain_text, max_size=3),
    "content_available": st.booleans(),
    "apns": options(ApnsOptions),
    "fcm": options(FcmOptions),
    "webpush": options(WebPushOptions),
}
notifications = kwargs_for(field_names(Notification), NOTIFICATION_PLAUSIBLE).map(lambda kw: built(Notification, kw))

# For render(): values of the right type, with wild content, so that most notifications can be built
# and reach the encoders (text with surrogates and control characters, broken URLs, extreme times).
texts = plain_text | wild_text
renderable_options = {
    "apns": st.none()
    | st.builds(
        lambda kw: built(ApnsOptions, kw),
        st.fixed_dictionaries(
            {},
            optional={
                "loc_key": texts,
                "loc_args": st.lists(texts, max_size=2),
                "target_content_id": texts,
                "extra": st.dictionaries(texts, json_like, max_size=2),
                "event": st.sampled_from(["update", "end"]),
                "content_state": st.dictionaries(texts, json_like, max_size=2),
                "stale_date": any_datetime | numbers,
                "relevance_score": numbers,
            },
        ),
    ),
    "fcm": st.none()
    | st.builds(
        lambda kw: built(FcmOptions, kw),
        st.fixed_dictionaries(
            {},
            optional={
                "channel_id": texts,
                "ticker": texts,
                "event_time": any_datetime,
                "vibrate_timings": st.lists(numbers | st.timedeltas(), max_size=2),
                "body_loc_key": texts,
                "body_loc_args": st.lists(texts, max_size=2),
                "android": st.dictionaries(texts, json_like, max_size=2),
                "apns": st.fixed_dictionaries({"headers": st.dictionaries(st.just("apns-id"), texts, max_size=1)}),
                "message": st.dictionaries(st.sampled_from(["notification", "data", "android"]), json_like),
            },
        ),
    ),
    "webpush": st.none()
    | st.builds(
        lambda kw: built(WebPushOptions, kw),
        st.fixed_dictionaries(
            {},
            optional={
                "timestamp": any_datetime,
                "badge": url_like,
                "lang": texts,
                "extra_headers": st.dictionaries(st.just("x-a"), texts, max_size=1),
                "payload_format": st.sampled_from(["declarative", "json"]),
            },
        ),
    ),
}
renderable = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(("title", "subtitle", "body", "sound", "category", "thread_id", "collapse_key"), texts),
        "deep_link": st.just("https://shop.example/o/1") | url_like,
        "image": st.just("https://cdn.example/a.png") | url_like,
        "icon": url_like,
        "actions": st.lists(
            st.builds(
                lambda i, t, u: built(Action, {"id": i, "title": t, "icon": u}), texts, texts, url_like | st.none()
            ),
            max_size=2,
        ).map(lambda found: [a for a in found if a is not None]),
        "ttl": st.integers(0, 28 * 24 * 3600) | st.timedeltas(),
        "data": st.dictionaries(texts, texts, max_size=3),
        "content_available": st.booleans(),
        **renderable_options,
    },
).map(lambda kw: built(Notification, kw))


def _sub() -> WebPushSubscription:
    return subscription()


# The serialised forms (docs/serialization.md) that the from_dict entries corrupt one member at a time.
RICH_FORM = Notification(
    title="t",
    deep_link="https://a.example/",
    actions=[Action("a", "A")],
    apns=ApnsOptions(loc_key="K"),
    fcm=FcmOptions(event_time=datetime(2020, 1, 1, tzinfo=timezone.utc)),
    webpush=WebPushOptions(timestamp=datetime(2020, 1, 1, tzinfo=timezone.utc)),
).to_dict()
NOTIFICATION_KEYS = ["v", *field_names(Notification), "unknown"]
OPTION_KEYS = sorted({*field_names(ApnsOptions), *field_names(FcmOptions), *field_names(WebPushOptions)})
TARGET_FORMS = [
    target.to_dict()
    for target in (
        ApnsDevice("ab" * 32),
        ApnsChannel("dHN0LXNyY2gtY2hubA==", storage=1),
        FcmDevice("t"),
        FcmTopic("news"),
        FcmCondition("'a' in topics"),
    )
] + [subscription().to_dict()]


CONSTRUCTORS: dict[str, tuple[Callable[..., object], st.SearchStrategy[dict[str, Any]]]] = {
    "Notification": (Notification, kwargs_for(field_names(Notification), NOTIFICATION_PLAUSIBLE)),
    "Action": (
        Action,
        kwargs_for(field_names(Action), {"id": plain_text, "title": plain_text}, required=("id", "title")),
    ),
    "ApnsOptions": (ApnsOptions, kwargs_for(field_names(ApnsOptions), OPTION_PLAUSIBLE[ApnsOptions])),
    "FcmOptions": (FcmOptions, kwargs_for(field_names(FcmOptions), OPTION_PLAUSIBLE[FcmOptions])),
    "WebPushOptions": (WebPushOptions, kwargs_for(field_names(WebPushOptions), OPTION_PLAUSIBLE[WebPushOptions])),
    "ApnsDevice": (ApnsDevice, kwargs_for(["token"], {"token": st.just("ab" * 32)}, required=("token",))),
    "ApnsChannel": (
        ApnsChannel,
        kwargs_for(
            ["channel_id", "storage"],
            {"channel_id": st.just("dHN0LXNyY2gtY2hubA=="), "storage": st.sampled_from([None, 0, 1])},
            required=("channel_id",),
        ),
    ),
    "FcmDevice": (FcmDevice, kwargs_for(["token"], {"token": plain_text}, required=("token",))),
    "FcmTopic": (FcmTopic, kwargs_for(["name"], {"name": st.just("/topics/news")}, required=("name",))),
    "FcmCondition": (FcmCondition, kwargs_for(["expr"], {"expr": st.just("'a' in topics")}, required=("expr",))),
    "WebPushSubscription": (
        WebPushSubscription,
        kwargs_for(
            ["endpoint", "p256dh", "auth", "expiration_time"],
            {
                "endpoint": st.just("https://push.example.net/s/1") | url_like,
                "p256dh": st.builds(lambda: _sub().p256dh),
                "auth": st.builds(lambda: _sub().auth),
                "expiration_time": any_datetime,
            },
            required=("endpoint", "p256dh", "auth"),
        ),
    ),
    "WebPushSubscription.from_dict": (
        WebPushSubscription.from_dict,
        st.fixed_dictionaries(
            {
                "data": wild
                | st.builds(lambda: _sub().to_dict())
                | st.fixed_dictionaries(
                    {"endpoint": url_like, "keys": wild | st.builds(lambda: _sub().to_dict()["keys"])},
                    optional={"expirationTime": numbers | wild},
                )
                | wild_text.map(lambda t: '{"endpoint": "' + t + '"}')
                | st.binary(max_size=20)
            }
        ),
    ),
    "APNs": (
        APNs,
        kwargs_for(
            field_names(APNs),
            {
                "key": st.just(APNS_KEY) | missing_paths | st.binary(max_size=40),
                "key_id": st.just("ABC123DEFG"),
                "team_id": st.just("TEAM123456"),
                "topic": st.just("com.example.app"),
                "environment": st.sampled_from(["production", "sandbox"]),
                "base_url": url_like,
                "cert": missing_paths | st.binary(max_size=40),
                "cert_key": missing_paths,
                "cert_password": wild_text,
            },
            required=("topic",),
        ),
    ),
    "FCM": (
        FCM,
        # service_account is always given: without one FCM asks Application Default Credentials,
        # which may probe the GCE metadata server over the network.
        st.fixed_dictionaries(
            {
                "service_account": st.just(service_account())
                | st.builds(lambda k, v: {**service_account(), k: v}, st.sampled_from(list(service_account())), wild)
                | st.builds(
                    lambda k, v: json.dumps({**service_account(), k: v}),
                    st.sampled_from(["client_email", "token_uri"]),
                    wild_text,
                )
                | wild_text.map(lambda t: "{" + t)
                | missing_paths
                | wrong_types
            },
            optional={"project_id": wild, "base_url": url_like | wild, "token_uri": url_like | wild},
        ),
    ),
    "WebPush": (
        WebPush,
        kwargs_for(
            field_names(WebPush),
            {
                "vapid_private_key": st.just(VAPID_KEY),
                "subject": st.just("mailto:ops@example.com") | wild_text.map("mailto:{}".format),
                "vapid_expiration": st.timedeltas(),
                "default_navigate": url_like,
                "base_url": url_like,
                "allow_local_endpoints": st.booleans(),
            },
            required=("vapid_private_key", "subject"),
        ),
    ),
    "RetryPolicy": (
        RetryPolicy,
        kwargs_for(
            field_names(RetryPolicy),
            {"max_attempts": st.integers(-1, 10), "jitter": st.floats(0, 1), "budget": st.none()},
        ),
    ),
    "ProviderTokenSigner": (
        ProviderTokenSigner,
        kwargs_for(
            ["key", "key_id", "team_id"],
            {
                "key": st.sampled_from(
                    [ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1())]
                ),
                "key_id": st.just("ABC123DEFG"),
                "team_id": st.just("TEAM123456"),
            },
            required=("key", "key_id", "team_id"),
        ),
    ),
    "Notification.from_dict": (
        Notification.from_dict,
        st.fixed_dictionaries(
            {
                "data": wild
                | st.builds(lambda key, value: {**RICH_FORM, key: value}, st.sampled_from(NOTIFICATION_KEYS), wild)
                | st.builds(
                    lambda block, key, value: {**RICH_FORM, block: {key: value}},
                    st.sampled_from(["apns", "fcm", "webpush"]),
                    st.sampled_from(OPTION_KEYS),
                    wild | wild_text.map(lambda t: "2020-01-01T00:00:00" + t),
                )
                | st.builds(
                    lambda index, key, value: {**RICH_FORM, "actions": [{"id": "a", "title": "A", key: value}]},
                    st.integers(0, 1),
                    st.sampled_from(["id", "title", "icon", "deep_link", "x"]),
                    wild,
                )
            }
        ),
    ),
    "target_from_dict": (
        target_from_dict,
        st.fixed_dictionaries(
            {
                "data": wild
                | st.builds(
                    lambda form, key, value: {**form, key: value},
                    st.sampled_from(TARGET_FORMS),
                    st.sampled_from(["v", "provider", "type", "token", "name", "expr", "endpoint", "keys"]),
                    wild,
                )
            }
        ),
    ),
    "RetryBudget": (RetryBudget, kwargs_for(["ratio", "min_per_second", "clock"], {"ratio": st.floats(0, 1)})),
    "PruningGuard": (PruningGuard, kwargs_for(field_names(PruningGuard), {})),
    # unipush.policies: the send policies and their Redis store (docs/policies.md).
    "policies.QuietHours": (
        QuietHours,
        kwargs_for(
            ["start", "end", "zone", "default_zone", "defer", "bypass", "name"],
            {
                "start": st.sampled_from(["22:00", "08:00", "7:5", "24:00"]) | st.times(),
                "end": st.sampled_from(["08:00", "22:00"])
                | st.times(timezones=st.none() | fixed_offsets.map(timezone)),
                "zone": st.sampled_from(["Europe/Berlin", "Nowhere/Land", "../etc/passwd", "a" * 300, "\x00"]),
                "default_zone": st.sampled_from(["UTC", "", "Asia/Tokyo"]),
                "name": plain_text,
            },
        ),
    ),
    "policies.FrequencyCap": (
        FrequencyCap,
        kwargs_for(
            ["limit", "window", "recipient", "category", "name"],
            {"limit": st.integers(-1, 10), "window": st.timedeltas() | numbers, "name": plain_text},
            required=("limit", "window"),
        ),
    ),
    "policies.Deduplicate": (
        Deduplicate,
        kwargs_for(
            ["key", "window", "recipient", "name"],
            {"key": st.just(lambda n: None), "window": st.timedeltas() | numbers},
            required=("key", "window"),
        ),
    ),
    "policies.RedisPolicyStore": (
        RedisPolicyStore,
        kwargs_for(
            ["url", "client", "prefix"],
            {"url": st.sampled_from(["redis://localhost:1/0", "rediss://u:p@h:6380/2", "unix:///tmp/r.sock"])},
        ),
    ),
    "MemoryStore": (MemoryStore, st.just({})),
    # No I/O happens at construction: a directory is made on first save, a Redis connection on first use.
    "FileStore": (FileStore, kwargs_for(["directory"], {"directory": st.just("unused-cache-dir")})),
    "RedisStore": (
        RedisStore,
        kwargs_for(
            ["url", "client", "prefix"],
            {"url": st.sampled_from(["redis://localhost:1/0", "rediss://u:p@h:6380/2", "unix:///tmp/r.sock"])},
        ),
    ),
    "StoredCredential": (
        StoredCredential,
        kwargs_for(
            field_names(StoredCredential),
            {"token": plain_text, "issued_at": st.floats(0, 2e9), "expires_at": st.floats(0, 2e9)},
            required=("token", "issued_at", "expires_at"),
        ),
    ),
}


@pytest.mark.parametrize("name", list(CONSTRUCTORS))
@FUZZ
@given(data=st.data())
def test_public_constructors_raise_only_unipush_errors(name: str, data: st.DataObject) -> None:
    build, arguments = CONSTRUCTORS[name]
    kwargs = data.draw(arguments, label="kwargs")
    error = ""
    try:
        build(**kwargs)
    except UnipushError as exc:
        error = str(exc)
    assert "\n" not in error  # one line


# Public classes users do not build from untrusted input: enums, what unipush returns, protocols and
# base classes, and the clients (whose arguments are providers and settings, tested with the clients).
NOT_FUZZED = {
    "ApnsReason",
    "FcmErrorCode",
    "WebPushStatus",
    "TopicErrorCode",
    "BatchResult",
    "TopicManagementResult",
    "Outcome",
    "PreparedRequest",
    "SendResult",
    "Provider",
    "SupportsAuthorize",
    "Target",
    "PushClient",
    "AsyncPushClient",
    "ProcessPool",
    "CredentialStore",
}


def test_every_public_constructor_is_fuzzed() -> None:
    import unipush

    public = {
        name
        for name in unipush.__all__
        if inspect.isclass(getattr(unipush, name)) and not issubclass(getattr(unipush, name), BaseException)
    }
    fuzzed = {name for name in CONSTRUCTORS if "." not in name} - {"ProviderTokenSigner", "target_from_dict"}
    assert public - NOT_FUZZED == fuzzed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notification=notifications | renderable)
def test_render_raises_only_unipush_errors_for_every_provider(notification: Notification | None) -> None:
    if notification is None:
        return
    client = all_providers_client()
    for target in [*all_targets(), FcmCondition("'a' in topics")]:
        try:
            prepared = client.render(notification, target)
        except UnipushError as exc:
            error = str(exc)
            if "\n" in error:
                pytest.fail(f"a multi-line error: {error!r}")
            continue
        assert isinstance(prepared.body, bytes)
        _assert_valid_headers(prepared.headers)
        if prepared.provider == "fcm":
            message = json.loads(prepared.body)["message"]
            for block in ("apns", "webpush"):
                forwarded = message.get(block, {}).get("headers", {})
                if isinstance(forwarded, dict):
                    _assert_valid_headers(forwarded)


header_text = st.text(alphabet=st.characters() | st.sampled_from(SPECIAL), min_size=1, max_size=70)


@FUZZ
@given(collapse_key=header_text, extra=header_text, forwarded=header_text)
def test_no_header_value_can_carry_cr_lf_nul_or_control_characters(
    collapse_key: str, extra: str, forwarded: str
) -> None:
    try:
        notification = Notification(
            title="t",
            deep_link="https://a.example/",
            collapse_key=collapse_key,
            webpush=WebPushOptions(extra_headers={"x-extra": extra}),
            fcm=FcmOptions(apns={"headers": {"apns-id": forwarded}}, webpush={"headers": {"x-fwd": forwarded}}),
        )
    except UnipushError:
        return
    for target in all_targets():
        try:
            prepared = all_providers_client().render(notification, target)
        except UnipushError:
            continue  # e.g. a collapse key over APNs's 64 bytes
        _assert_valid_headers(prepared.headers)
        if prepared.provider == "fcm":
            message = json.loads(prepared.body)["message"]
            _assert_valid_headers(message["apns"]["headers"])
            _assert_valid_headers(message["webpush"]["headers"])


def _assert_valid_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        # RFC 9113 §8.2.1 / RFC 9110 §5.5: encodable, no CTL except HTAB inside, no surrounding SP/HTAB.
        value.encode("utf-8")
        assert not any((c < " " and c != "\t") or c == "\x7f" for c in value), (name, value)
        assert value == value.strip(" \t"), (name, value)
