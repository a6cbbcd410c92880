"""FCM topic management, pure: the Instance ID request (golden), input checks, splitting, answer decoding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from unipush import (
    AuthenticationError,
    BatchResult,
    InvalidTokenError,
    ProviderError,
    RateLimitedError,
    SendResult,
    ValidationError,
)
from unipush.fcm import FCM, MAX_TOKENS_PER_REQUEST, FcmDevice, FcmTopic, TopicErrorCode, TopicManagementResult
from unipush.fcm._topics import (
    chunk_tokens,
    parse_topic_response,
    prepare_topic_request,
    registration_tokens,
    topic_name,
)

TOKEN_A = "dA1:APA91b" + "a" * 140
TOKEN_B = "dB2:APA91b" + "b" * 140
TOKEN_C = "dC3:APA91b" + "c" * 140


def devices(*tokens: str) -> list[FcmDevice]:
    return [FcmDevice(t) for t in tokens]


# ------------------------------------------------------------------------------------------------ encode


def test_subscribe_request_is_exactly_what_iid_batch_add_expects() -> None:
    request = prepare_topic_request("https://iid.googleapis.com", "subscribe", "news", devices(TOKEN_A, TOKEN_B))
    assert request.method == "POST"
    assert request.url == "https://iid.googleapis.com/iid/v1:batchAdd"
    assert dict(request.headers) == {"content-type": "application/json", "access_token_auth": "true"}
    assert request.body == (
        b'{"to":"/topics/news","registration_tokens":["' + TOKEN_A.encode() + b'","' + TOKEN_B.encode() + b'"]}'
    )
    assert request.payload == {"to": "/topics/news", "registration_tokens": [TOKEN_A, TOKEN_B]}
    assert request.credential_pending  # the OAuth token is attached at send time, as for messages:send
    assert request.target == FcmTopic("news")
    assert request.provider == "fcm"


def test_unsubscribe_goes_to_batch_remove_and_a_trailing_slash_is_dropped() -> None:
    request = prepare_topic_request("https://proxy.example/", "unsubscribe", "a-b_c.d~e%f", devices(TOKEN_C))
    assert request.url == "https://proxy.example/iid/v1:batchRemove"
    assert json.loads(request.body) == {"to": "/topics/a-b_c.d~e%f", "registration_tokens": [TOKEN_C]}


def test_a_call_holds_at_most_1000_tokens() -> None:
    assert MAX_TOKENS_PER_REQUEST == 1000
    prepare_topic_request("https://iid.googleapis.com", "subscribe", "t", [FcmDevice(TOKEN_A)] * 1000)
    with pytest.raises(ValidationError, match=r"^tokens: at most 1000 registration tokens per call, got 1001$"):
        prepare_topic_request("https://iid.googleapis.com", "subscribe", "t", [FcmDevice(TOKEN_A)] * 1001)


def test_splitting_keeps_input_order_in_calls_of_at_most_1000() -> None:
    many = [FcmDevice(f"tok{i:05d}" + "x" * 40) for i in range(2345)]
    chunks = chunk_tokens(many)
    assert [len(c) for c in chunks] == [1000, 1000, 345]
    assert [d for c in chunks for d in c] == many
    assert [len(c) for c in chunk_tokens(many[:1000])] == [1000]
    assert [len(c) for c in chunk_tokens(many[:1001])] == [1000, 1]


# ------------------------------------------------------------------------------------------------ input


@pytest.mark.parametrize(("given", "name"), [("news", "news"), ("/topics/news", "news"), (FcmTopic("x.y"), "x.y")])
def test_topic_names_are_checked_as_fcm_topic_checks_them(given: Any, name: str) -> None:
    assert topic_name(given) == name


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("a b", r"^topic: topic name must use only \[a-zA-Z0-9-_.~%\], got 'a b'$"),
        ("/topics/", r"^topic: topic name must not be empty$"),
        ("", r"^topic: topic name must not be empty$"),
        (7, r"^topic: must be a string, got int$"),
    ],
)
def test_bad_topic_names_are_refused_naming_the_field(given: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        topic_name(given)


def test_tokens_may_be_strings_devices_or_one_token() -> None:
    assert registration_tokens([TOKEN_A, FcmDevice(TOKEN_B)]) == devices(TOKEN_A, TOKEN_B)
    assert registration_tokens(TOKEN_A) == devices(TOKEN_A)  # one token, not its characters
    assert registration_tokens(FcmDevice(TOKEN_C)) == devices(TOKEN_C)
    assert registration_tokens(iter([TOKEN_A])) == devices(TOKEN_A)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], r"^tokens: must hold at least one registration token$"),
        ([TOKEN_A, "has space"], r"^tokens\[1\]: must not contain whitespace$"),
        ([TOKEN_A, ""], r"^tokens\[1\]: must not be empty$"),
        ([None], r"^tokens\[0\]: must be a string, got NoneType$"),
        (b"bytes", r"^tokens: must be registration tokens or FcmDevice targets, got bytes$"),
        (42, r"^tokens: must be registration tokens or FcmDevice targets, got int$"),
    ],
)
def test_bad_tokens_are_refused_naming_the_entry(given: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        registration_tokens(given)


def test_iid_host_defaults_to_google_and_follows_a_custom_base_url(service_account_info: dict[str, Any]) -> None:
    assert FCM(service_account=service_account_info).iid_base_url == "https://iid.googleapis.com"
    assert FCM(service_account=service_account_info, base_url="https://fcm.googleapis.com/").iid_base_url == (
        "https://iid.googleapis.com"
    )
    assert (
        FCM(service_account=service_account_info, base_url="https://127.0.0.1:9/").iid_base_url == "https://127.0.0.1:9"
    )
    explicit = FCM(
        service_account=service_account_info, base_url="https://127.0.0.1:9", iid_base_url="https://iid.test/"
    )
    assert explicit.iid_base_url == "https://iid.test"


def test_a_bad_iid_host_is_a_configuration_error(service_account_info: dict[str, Any]) -> None:
    from unipush import ConfigurationError

    with pytest.raises(
        ConfigurationError, match=r"^FCM: iid_base_url must be an absolute URL with a scheme, got 'iid'$"
    ):
        FCM(service_account=service_account_info, iid_base_url="iid")


# ------------------------------------------------------------------------------------------------ decode


def test_a_200_gives_one_outcome_per_token_in_order() -> None:
    body = json.dumps(
        {
            "results": [
                {},
                {"error": "NOT_FOUND"},
                {"error": "INVALID_ARGUMENT"},
                {"error": "TOO_MANY_TOPICS"},
                {"error": "RESOURCE_EXHAUSTED"},
                {"error": "INTERNAL"},
                {"error": "PERMISSION_DENIED"},
                {"error": "SOMETHING_NEW"},
            ]
        }
    ).encode()
    answer = parse_topic_response(200, {"content-type": "application/json"}, body, 8)
    assert answer.outcome.ok
    assert answer.results is not None
    ok, gone, garbage, full, busy, internal, denied, new = answer.results
    assert ok.ok
    assert ok.error is None
    assert not ok.token_invalid
    # NOT_FOUND and INVALID_ARGUMENT are the IID forms of a dead token: delete it.
    for dead, code in ((gone, TopicErrorCode.NOT_FOUND), (garbage, TopicErrorCode.INVALID_ARGUMENT)):
        assert not dead.ok
        assert dead.token_invalid
        assert dead.reason is code
        assert type(dead.error) is InvalidTokenError
    assert str(gone.error) == "IID NOT_FOUND: the registration token is not registered"
    assert str(garbage.error) == "IID INVALID_ARGUMENT: not a valid registration token"
    assert type(full.error) is ProviderError
    assert not full.token_invalid
    assert full.reason is TopicErrorCode.TOO_MANY_TOPICS
    assert (
        str(full.error)
        == "IID TOO_MANY_TOPICS: the app instance is subscribed to too many topics (FCM's limit is 2000)"
    )
    assert type(busy.error) is RateLimitedError
    assert busy.retryable
    assert not busy.token_invalid
    assert type(internal.error) is ProviderError
    assert internal.retryable
    assert type(denied.error) is AuthenticationError
    assert not denied.token_invalid
    assert type(new.error) is ProviderError
    assert new.reason is None
    assert not new.token_invalid
    assert str(new.error) == "IID SOMETHING_NEW: refused"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"results": [{}]}', "IID answered 1 results for 2 registration tokens"),
        (b'{"results": {}}', "IID answered no results list for 2 registration tokens"),
        (b"<html>ok</html>", "IID answered no results list for 2 registration tokens"),
        (b"", "IID answered no results list for 2 registration tokens"),
    ],
)
def test_a_200_that_cannot_be_matched_to_the_tokens_fails_the_call(body: bytes, message: str) -> None:
    answer = parse_topic_response(200, {}, body, 2)
    assert answer.results is None
    assert not answer.outcome.ok
    assert not answer.outcome.retryable
    assert str(answer.outcome.error) == message


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "reason", "retryable", "refresh", "message"),
    [
        (
            401,
            {},
            b'{"error": {"code": 401, "message": "Request had invalid authentication credentials.", '
            b'"status": "UNAUTHENTICATED"}}',
            AuthenticationError,
            None,
            True,
            True,
            "IID UNAUTHENTICATED (HTTP 401): Request had invalid authentication credentials.",
        ),
        (
            403,
            {},
            b'{"error": "PERMISSION_DENIED"}',
            AuthenticationError,
            TopicErrorCode.PERMISSION_DENIED,
            False,
            False,
            "IID PERMISSION_DENIED (HTTP 403): Forbidden",
        ),
        (
            400,
            {},
            b'{"error": "INVALID_ARGUMENT"}',
            ProviderError,
            TopicErrorCode.INVALID_ARGUMENT,
            False,
            False,
            "IID INVALID_ARGUMENT (HTTP 400): Bad Request",
        ),
        (
            429,
            {"Retry-After": "7"},
            b'{"error": "RESOURCE_EXHAUSTED"}',
            RateLimitedError,
            TopicErrorCode.RESOURCE_EXHAUSTED,
            True,
            False,
            "IID RESOURCE_EXHAUSTED (HTTP 429): Too Many Requests",
        ),
        (
            503,
            {},
            b'{"error": "UNAVAILABLE"}',
            ProviderError,
            None,
            True,
            False,
            "IID UNAVAILABLE (HTTP 503): Service Unavailable",
        ),
        (
            502,
            {},
            b"<html><body>Bad Gateway</body></html>",
            ProviderError,
            None,
            True,
            False,
            "IID Bad Gateway (HTTP 502): Bad Gateway",
        ),
    ],
)
def test_a_refused_call_is_classified_like_a_refused_send(
    status: int,
    headers: dict[str, str],
    body: bytes,
    kind: type[ProviderError],
    reason: TopicErrorCode | None,
    retryable: bool,
    refresh: bool,
    message: str,
) -> None:
    answer = parse_topic_response(status, headers, body, 3)
    outcome = answer.outcome
    assert answer.results is None
    assert not outcome.ok
    assert not outcome.token_invalid
    assert type(outcome.error) is kind
    assert outcome.reason is reason
    assert outcome.retryable is retryable
    assert outcome.refresh_credential is refresh
    assert str(outcome.error) == message
    assert isinstance(outcome.error, ProviderError)
    assert outcome.error.status_code == status
    assert outcome.retry_after == (7.0 if "Retry-After" in headers else None)


# ------------------------------------------------------------------------------------------------ result


def test_the_result_counts_and_is_a_batch_result() -> None:
    a, b = FcmDevice(TOKEN_A), FcmDevice(TOKEN_B)
    dead = InvalidTokenError("IID NOT_FOUND", provider="fcm", status_code=200, reason=TopicErrorCode.NOT_FOUND)
    result = TopicManagementResult(
        results=(
            SendResult(ok=True, target=a, provider="fcm", status_code=200),
            SendResult(ok=False, target=b, provider="fcm", status_code=200, error=dead, token_invalid=True),
        ),
        topic="news",
        operation="subscribe",
    )
    assert isinstance(result, BatchResult)
    assert (result.success_count, result.failure_count) == (1, 1)
    assert result.invalid_tokens == [b]
    assert [r.target for r in result.succeeded] == [a]
    assert list(result) == list(result.results)
    assert result[1].error is dead
    assert repr(result) == "TopicManagementResult(subscribe topic='news', ok=1, failed=1, invalid=1)"
    with pytest.raises(AttributeError):
        result.topic = "other"  # type: ignore[misc]
