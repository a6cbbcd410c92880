"""Issue 8, construction-time validation: invalid text, header values, datetimes, URLs and constructor
arguments are a one-line ``ValidationError`` / ``ConfigurationError`` naming the field, never a
``UnicodeEncodeError``, ``OverflowError``, ``ValueError``, ``TypeError`` or ``RuntimeError`` from deeper
down (and never a header that splits on the wire)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from tests.support import all_providers_client, all_targets, pem, service_account, subscription
from unipush import (
    FCM,
    Action,
    APNs,
    ApnsOptions,
    ConfigurationError,
    FcmCondition,
    FcmDevice,
    FcmOptions,
    Notification,
    RetryBudget,
    RetryPolicy,
    UnipushError,
    ValidationError,
    WebPush,
    WebPushOptions,
    WebPushSubscription,
)
from unipush.sandbox import Sandbox

SURROGATES = ("\udfff", "\ud800", "a\ud83d", "\udc00b")
APNS_KEY = pem(ec.generate_private_key(ec.SECP256R1()))


def apns(**kwargs: Any) -> APNs:
    settings: dict[str, Any] = {"key": APNS_KEY, "key_id": "ABC123DEFG", "team_id": "TEAM123456", "topic": "com.x"}
    settings.update(kwargs)
    return APNs(**settings)


def _webpush(**kwargs: Any) -> WebPush:
    return WebPush(vapid_private_key=APNS_KEY, subject="mailto:ops@example.com", **kwargs)


def _sub() -> WebPushSubscription:
    return subscription()


# -- item 2: lone surrogates anywhere in the model's text --------------------------------------------

# (field named in the error, a builder that puts `text` in that field)
TEXT_FIELDS: list[tuple[str, Callable[[str], object]]] = [
    ("title", lambda t: Notification(title=t)),
    ("subtitle", lambda t: Notification(subtitle=t)),
    ("body", lambda t: Notification(body=t)),
    ("sound", lambda t: Notification(sound=t)),
    ("category", lambda t: Notification(category=t)),
    ("thread_id", lambda t: Notification(thread_id=t)),
    ("collapse_key", lambda t: Notification(title="x", collapse_key=t)),
    ("deep_link", lambda t: Notification(title="x", deep_link="https://a.example/" + t)),
    ("image", lambda t: Notification(title="x", image="https://a.example/" + t)),
    ("data", lambda t: Notification(data={t: "v"})),
    ("data['k']", lambda t: Notification(data={"k": t})),
    ("action.id", lambda t: Action(t, "Open")),
    ("action.title", lambda t: Action("open", t)),
    ("action.icon", lambda t: Action("open", "Open", icon="https://a.example/" + t)),
    ("apns.loc_key", lambda t: ApnsOptions(loc_key=t)),
    ("apns.loc_args[1]", lambda t: ApnsOptions(loc_key="K", loc_args=["a", t])),
    ("apns.target_content_id", lambda t: ApnsOptions(target_content_id=t)),
    ("apns.extra['k']", lambda t: ApnsOptions(extra={"k": t})),
    ("apns.extra['k'][0]['x']", lambda t: ApnsOptions(extra={"k": [{"x": t}]})),
    ("apns.extra", lambda t: ApnsOptions(extra={t: 1})),
    ("fcm.channel_id", lambda t: FcmOptions(channel_id=t)),
    ("fcm.ticker", lambda t: FcmOptions(ticker=t)),
    ("fcm.body_loc_args[0]", lambda t: FcmOptions(body_loc_key="K", body_loc_args=[t])),
    ("fcm.android['notification']['title']", lambda t: FcmOptions(android={"notification": {"title": t}})),
    ("webpush.extra_headers['x-a']", lambda t: WebPushOptions(extra_headers={"x-a": t})),
    ("token", lambda t: FcmDevice("abc" + t)),
    ("condition", lambda t: FcmCondition(f"'news' in topics {t}")),
]


@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize(("field", "build"), TEXT_FIELDS, ids=[f for f, _ in TEXT_FIELDS])
def test_lone_surrogate_is_refused_at_construction_naming_the_field(
    field: str, build: Callable[[str], object], surrogate: str
) -> None:
    with pytest.raises(ValidationError) as info:
        build(surrogate)
    assert info.value.field.startswith(field)
    assert "surrogate" in str(info.value) or "URL" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("target", all_targets(), ids=lambda t: type(t).__name__)
def test_valid_unicode_still_renders_everywhere(target: Any) -> None:
    # Emoji (astral characters, surrogate pairs in UTF-16) and accents are valid text and must pass.
    n = Notification(
        title="Café 🚀", body="ü✓ 𝄞", data={"ключ": "値"}, collapse_key="é-1", deep_link="https://a.example/"
    )
    all_providers_client().render(n, target)


# -- item 2: extreme datetimes ----------------------------------------------------------------------

EXTREMES = [
    datetime.max.replace(tzinfo=timezone(-timedelta(hours=23, minutes=59))),
    datetime.max.replace(tzinfo=timezone.utc),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=23))),
    datetime.min.replace(tzinfo=timezone.utc),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
]

DATETIME_FIELDS: list[tuple[str, Callable[[datetime], object]]] = [
    ("fcm.event_time", lambda d: FcmOptions(event_time=d)),
    ("webpush.timestamp", lambda d: WebPushOptions(timestamp=d)),
    ("apns.stale_date", lambda d: ApnsOptions(event="update", content_state={}, stale_date=d)),
    ("apns.timestamp", lambda d: ApnsOptions(event="update", content_state={}, timestamp=d)),
    ("apns.dismissal_date", lambda d: ApnsOptions(event="end", dismissal_date=d)),
]


@pytest.mark.parametrize("moment", EXTREMES, ids=lambda d: d.isoformat())
@pytest.mark.parametrize(("field", "build"), DATETIME_FIELDS, ids=[f for f, _ in DATETIME_FIELDS])
def test_out_of_range_datetime_names_the_field_and_the_limit(
    field: str, build: Callable[[datetime], object], moment: datetime
) -> None:
    with pytest.raises(ValidationError) as info:
        build(moment)
    assert info.value.field == field
    assert "1970-01-01" in info.value.message
    assert "9999-12-31" in info.value.message


@pytest.mark.parametrize("target", all_targets(), ids=lambda t: type(t).__name__)
def test_datetimes_at_the_limits_render(target: Any) -> None:
    for moment in (
        datetime(1970, 1, 1, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
        datetime(1970, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),  # the epoch, written in UTC+1
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=23, minutes=59))),
    ):
        n = Notification(
            title="t",
            deep_link="https://a.example/",
            fcm=FcmOptions(event_time=moment),
            webpush=WebPushOptions(timestamp=moment),
        )
        all_providers_client().render(n, target)


def test_int_unix_seconds_are_bounded_too() -> None:
    with pytest.raises(ValidationError, match=r"apns\.timestamp"):
        ApnsOptions(event="update", content_state={}, timestamp=10**20)


def test_huge_numbers_are_validation_errors_not_overflow() -> None:
    with pytest.raises(ValidationError, match=r"apns\.relevance_score"):
        ApnsOptions(relevance_score=10**400)
    with pytest.raises(ValidationError, match=r"fcm.vibrate_timings\[0\]"):
        FcmOptions(vibrate_timings=[1e300])
    with pytest.raises(ValidationError, match=r"fcm.vibrate_timings\[0\]"):
        FcmOptions(vibrate_timings=[timedelta.max])


# -- item 5: CR, LF, NUL and other control characters in header values --------------------------------

BAD_HEADER_VALUES = ["a\r\nx-injected: 1", "a\nb", "a\rb", "a\x00b", "\x00", "a\x1fb", "a\x7fb", " lead", "trail\t"]


@pytest.mark.parametrize("value", BAD_HEADER_VALUES)
def test_collapse_key_that_would_break_a_header_is_refused(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        Notification(title="x", collapse_key=value)
    assert info.value.field == "collapse_key"
    assert "header" in info.value.message


@pytest.mark.parametrize("value", BAD_HEADER_VALUES)
def test_every_header_bound_option_is_checked(value: str) -> None:
    with pytest.raises(ValidationError, match=r"webpush.extra_headers\['x-a'\]"):
        WebPushOptions(extra_headers={"x-a": value})
    # FCM forwards ApnsConfig.headers and WebpushConfig.headers to APNs and the push service.
    with pytest.raises(ValidationError, match=r"fcm.apns.headers\['apns-collapse-id'\]"):
        FcmOptions(apns={"headers": {"apns-collapse-id": value}})
    with pytest.raises(ValidationError, match=r"fcm.webpush.headers\['Topic'\]"):
        FcmOptions(webpush={"headers": {"Topic": value}})
    with pytest.raises(ValidationError, match=r"fcm.message.apns.headers\['apns-id'\]"):
        FcmOptions(message={"apns": {"headers": {"apns-id": value}}})


def test_raw_fcm_headers_need_token_names_and_may_delete() -> None:
    with pytest.raises(ValidationError, match="not a valid HTTP header name"):
        FcmOptions(apns={"headers": {"bad name": "1"}})
    FcmOptions(apns={"headers": {"apns-priority": None, "apns-collapse-id": "ok value é"}})


@pytest.mark.parametrize("topic", ["com.example.app\x00", "com.example\r\nx: 1", "com example", "", "com.exämple"])
def test_apns_topic_is_a_bundle_id(topic: str) -> None:
    with pytest.raises(ConfigurationError, match="topic"):
        apns(topic=topic)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def test_injected_header_never_reaches_the_wire(sandbox: Sandbox) -> None:
    device = sandbox.apns_device()
    with sandbox.client() as client:
        with pytest.raises(ValidationError, match="collapse_key"):
            client.send(Notification(title="x", collapse_key="a\r\nx-injected: 1"), device)
        # A legal key with a space and non-ASCII text goes through byte for byte.
        assert client.send(Notification(title="x", collapse_key="order 1 é"), device).ok
    deliveries = sandbox.inbox.for_target(device.token)
    assert len(deliveries) == 1
    assert deliveries[0].headers["apns-collapse-id"] == "order 1 é"
    assert not any("x-injected" in name for d in sandbox.inbox for name in d.headers)


# -- item 9: only unipush's errors escape the constructors -------------------------------------------


@pytest.mark.parametrize(
    ("build", "kind", "name"),
    [
        (lambda: Notification(deep_link="https://[::1"), ValidationError, "deep_link"),
        (lambda: Notification(image="https://[::1"), ValidationError, "image"),
        (lambda: Notification(icon="https://[::1/x.png"), ValidationError, "icon"),
        (lambda: Notification(deep_link="https://a.example:99999/"), ValidationError, "deep_link"),
        (lambda: Action("a", "A", icon="https://[::1"), ValidationError, "action.icon"),
        (lambda: Action("a", "A", deep_link="https://[::1"), ValidationError, "action.deep_link"),
        (lambda: WebPushOptions(badge="https://[::1"), ValidationError, "webpush.badge"),
        (lambda: apns(environment={}), ConfigurationError, "environment"),
        (lambda: apns(environment=["sandbox"]), ConfigurationError, "environment"),
        (lambda: apns(key="~nosuchuser/key.p8"), ConfigurationError, "home directory"),
        (lambda: apns(key="/tmp/no\x00such.p8"), ConfigurationError, "APNs key"),
        (lambda: apns(key="\udfff.p8"), ConfigurationError, "APNs key"),
        (lambda: apns(key="-----BEGIN PRIVATE KEY-----\n\udfff"), ConfigurationError, "APNs key"),
        (lambda: apns(base_url="https://[::1"), ConfigurationError, "base_url"),
        (lambda: apns(base_url="https://a.example:99999"), ConfigurationError, "base_url"),
        (lambda: apns(base_url="https://a.example/?q=1"), ConfigurationError, "base_url"),
        (lambda: FCM(service_account="\udfff"), ConfigurationError, "service account"),
        (lambda: FCM(service_account="~nosuchuser/sa.json"), ConfigurationError, "home directory"),
        (lambda: FCM(service_account="/tmp/no\x00such.json"), ConfigurationError, "service account"),
        (lambda: FCM(service_account=service_account(), token_uri="https://[::1"), ConfigurationError, "token_uri"),
        (lambda: FCM(service_account=service_account(), base_url="https://[::1"), ConfigurationError, "base_url"),
        (lambda: FCM(service_account=service_account(), base_url="ftp://a.example"), ConfigurationError, "base_url"),
        (
            lambda: FCM(service_account={**service_account(), "client_email": "a\udfff@b.example"}),
            ConfigurationError,
            "client_email",
        ),
        (
            lambda: FCM(service_account={**service_account(), "token_uri": "https://[::1"}),
            ConfigurationError,
            "token_uri",
        ),
        (lambda: _webpush(base_url="https://[::1"), ConfigurationError, "base_url"),
        (lambda: _webpush(base_url="https://a.example:99999"), ConfigurationError, "base_url"),
        (lambda: _webpush(default_navigate="https://[::1"), ConfigurationError, "default_navigate"),
        (
            lambda: WebPushSubscription(_sub().endpoint + "\udfff", _sub().p256dh, _sub().auth),
            ValidationError,
            "endpoint",
        ),
        (lambda: RetryPolicy(max_attempts="3"), ValidationError, "max_attempts"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(jitter=float("nan")), ValidationError, "jitter"),
        (lambda: RetryPolicy(multiplier=10**400), ValidationError, "multiplier"),
        (lambda: RetryPolicy(budget=3), ValidationError, "budget"),  # type: ignore[arg-type]
        (lambda: RetryBudget(ratio="x"), ValidationError, "ratio"),  # type: ignore[arg-type]
    ],
)
def test_constructors_raise_only_unipush_errors(
    build: Callable[[], object], kind: type[UnipushError], name: str
) -> None:
    with pytest.raises(kind) as info:
        build()
    assert type(info.value) is kind
    assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_service_account_key_of_an_unsupported_algorithm_is_a_configuration_error() -> None:
    # An Ed448 PKCS#8 key loads in cryptography; a key whose algorithm OID it does not know raises
    # UnsupportedAlgorithm. Both must end as the same one-line ConfigurationError naming the field.
    ed = ed448.Ed448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    unknown = _pem_with_unknown_algorithm()
    for key in (ed.decode(), unknown):
        with pytest.raises(ConfigurationError, match="private_key") as info:
            FCM(service_account={**service_account(), "private_key": key})
        assert "BEGIN" not in str(info.value)


def _pem_with_unknown_algorithm() -> str:
    # A PKCS#8 PrivateKeyInfo whose AlgorithmIdentifier is an OID no library knows (1.2.3.4.5):
    # SEQUENCE { INTEGER 0, SEQUENCE { OID 1.2.3.4.5 }, OCTET STRING { 00 } }.
    der = bytes.fromhex("300e020100300606042a030405040100")
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n"


def test_apns_key_of_an_unsupported_algorithm_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="APNs key"):
        apns(key=_pem_with_unknown_algorithm())


def test_key_paths_still_expand_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "key.p8").write_text(APNS_KEY)
    (tmp_path / "sa.json").write_text(json.dumps(service_account()))
    assert apns(key="~/key.p8").auth == "token"
    assert FCM(service_account="~/sa.json").project_id == "demo-project"


# -- item 11: images and icons are https only ---------------------------------------------------------

HTTP_IMAGE_FIELDS: list[tuple[str, Callable[[str], object]]] = [
    ("image", lambda u: Notification(title="x", image=u)),
    ("icon", lambda u: Notification(title="x", icon=u)),
    ("action.icon", lambda u: Action("a", "A", icon=u)),
    ("webpush.badge", lambda u: WebPushOptions(badge=u)),
]


@pytest.mark.parametrize("url", ["http://cdn.example/a.png", "HTTP://cdn.example/a.png", "http://10.0.0.1/a.png"])
@pytest.mark.parametrize(("field", "build"), HTTP_IMAGE_FIELDS, ids=[f for f, _ in HTTP_IMAGE_FIELDS])
def test_http_images_are_refused_with_the_reason(field: str, build: Callable[[str], object], url: str) -> None:
    with pytest.raises(ValidationError) as info:
        build(url)
    assert info.value.field == field
    assert "https://" in info.value.message
    assert "App Transport Security" in info.value.message


@pytest.mark.parametrize(
    "url", ["https://cdn.example/a.png", "http://localhost:8000/a.png", "http://127.0.0.1:9/a.png", "http://[::1]/a"]
)
@pytest.mark.parametrize(("field", "build"), HTTP_IMAGE_FIELDS, ids=[f for f, _ in HTTP_IMAGE_FIELDS])
def test_https_and_loopback_images_are_accepted(field: str, build: Callable[[str], object], url: str) -> None:
    build(url)


def test_http_deep_links_are_still_allowed() -> None:
    # Only media must be https: a click may open any URL (or an app scheme).
    n = Notification(title="x", deep_link="http://shop.example/o/1", actions=[Action("a", "A", deep_link="myapp://o")])
    all_providers_client().render(n, subscription())
