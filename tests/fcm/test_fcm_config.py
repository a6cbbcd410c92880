"""FCM configuration: credential sources, validation errors that never show the key, prepare and parse."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.oauth2 import service_account

from unipush._errors import ConfigurationError, InvalidTokenError, ValidationError
from unipush._model import Notification
from unipush._provider import Provider
from unipush._results import PreparedRequest
from unipush._targets import Target
from unipush.fcm import FCM, FcmCondition, FcmDevice, FcmTopic
from unipush.fcm._config import FCM_SCOPE

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
SEND_URL = "https://fcm.googleapis.com/v1/projects/demo-project/messages:send"


class FakeCredentials(google.auth.credentials.Credentials):
    """Minimal third-party credentials (no scopes, no token endpoint)."""

    def __init__(self, project_id: str | None = None) -> None:
        super().__init__()
        self.project_id = project_id

    def refresh(self, request: Any) -> None:  # pragma: no cover - never called: no I/O at construction
        raise AssertionError("credentials must not be refreshed at construction")


def _key_material(info: dict[str, Any]) -> str:
    """A recognisable line of the private key, to prove it never leaks."""
    return str(info["private_key"]).splitlines()[1]


# --- sources ----------------------------------------------------------------------------------------


def test_service_account_from_a_path(service_account_file: Path) -> None:
    for source in (service_account_file, str(service_account_file)):
        fcm = FCM(service_account=source)
        assert fcm.project_id == "demo-project"
        assert fcm.url == SEND_URL
        assert fcm.service_account_email == "fcm-sender@demo-project.iam.gserviceaccount.com"
        assert isinstance(fcm.credentials, service_account.Credentials)


def test_service_account_from_a_dict(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info)
    credentials = fcm.credentials
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.scopes == [FCM_SCOPE]
    assert credentials.token is None  # not fetched: that is I/O for the auth layer
    assert fcm.scopes == (FCM_SCOPE,)


def test_service_account_from_json_text(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account="\n  " + json.dumps(service_account_info))
    assert fcm.project_id == "demo-project"


def test_project_id_argument_wins(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info, project_id="123456789012")
    assert fcm.project_id == "123456789012"
    assert fcm.url == "https://fcm.googleapis.com/v1/projects/123456789012/messages:send"


def test_token_uri_override_is_honoured(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info, token_uri="http://127.0.0.1:8765/token")
    assert fcm.credentials._token_uri == "http://127.0.0.1:8765/token"  # type: ignore[attr-defined]
    # Without the override the key's own endpoint is used.
    plain = FCM(service_account=service_account_info)
    assert plain.credentials._token_uri == "https://oauth2.googleapis.com/token"  # type: ignore[attr-defined]


def test_token_uri_is_required_unless_overridden(service_account_info: dict[str, Any]) -> None:
    del service_account_info["token_uri"]
    with pytest.raises(ConfigurationError, match="token_uri"):
        FCM(service_account=service_account_info)
    fcm = FCM(service_account=service_account_info, token_uri="https://token.example/token")
    assert fcm.credentials._token_uri == "https://token.example/token"  # type: ignore[attr-defined]


def test_base_url_is_configurable(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info, base_url="http://127.0.0.1:9000/")
    assert fcm.base_url == "http://127.0.0.1:9000"
    assert fcm.url == "http://127.0.0.1:9000/v1/projects/demo-project/messages:send"


def test_credentials_object(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(credentials=FakeCredentials(project_id="from-creds"))
    assert fcm.project_id == "from-creds"
    assert isinstance(fcm.credentials, FakeCredentials)
    assert FCM(credentials=FakeCredentials(), project_id="given").project_id == "given"


def test_credentials_are_scoped_when_they_need_it(service_account_info: dict[str, Any]) -> None:
    unscoped = service_account.Credentials.from_service_account_info(service_account_info)
    fcm = FCM(credentials=unscoped, token_uri="http://127.0.0.1:1/token")
    assert fcm.credentials.scopes == [FCM_SCOPE]  # type: ignore[attr-defined]
    assert fcm.credentials._token_uri == "http://127.0.0.1:1/token"  # type: ignore[attr-defined]
    assert fcm.project_id == "demo-project"


def test_credentials_without_a_project_need_project_id() -> None:
    with pytest.raises(ConfigurationError, match="project_id"):
        FCM(credentials=FakeCredentials())


def test_token_uri_needs_credentials_with_a_token_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="token_uri"):
        FCM(credentials=FakeCredentials("p"), token_uri="https://token.example/")


def test_application_default_credentials(monkeypatch: pytest.MonkeyPatch, service_account_file: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file))
    fcm = FCM()
    assert fcm.project_id == "demo-project"
    assert isinstance(fcm.credentials, service_account.Credentials)
    assert fcm.credentials.scopes == [FCM_SCOPE]


def test_missing_application_default_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Point ADC at a file that does not exist: google.auth.default() fails at once, without probing
    # the metadata server.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigurationError) as info:
        FCM()
    message = str(info.value)
    assert "Application Default Credentials" in message
    assert "service_account=" in message


def test_adc_failure_is_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_adc(**kwargs: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("nothing here")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(ConfigurationError, match="nothing here"):
        FCM()


def test_adc_project_comes_from_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(google.auth, "default", lambda **kwargs: (FakeCredentials(), "adc-project"))
    assert FCM().project_id == "adc-project"


# --- bad input ----------------------------------------------------------------------------------------


def test_both_sources_are_refused(service_account_info: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        FCM(service_account=service_account_info, credentials=FakeCredentials("p"))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"type": None}, "'type'"),
        ({"type": "authorized_user"}, "'authorized_user'"),
        ({"client_email": None}, "'client_email' is missing"),
        ({"client_email": ""}, "'client_email' must be a non-empty string"),
        ({"private_key": None}, "'private_key' is missing"),
        ({"private_key": 42}, "'private_key' must be a non-empty string"),
        ({"token_uri": None}, "'token_uri' is missing"),
    ],
)
def test_bad_service_account_fields_are_named(
    service_account_info: dict[str, Any], change: dict[str, Any], needle: str
) -> None:
    for key, value in change.items():
        if value is None:
            del service_account_info[key]
        else:
            service_account_info[key] = value
    with pytest.raises(ConfigurationError) as info:
        FCM(service_account=service_account_info)
    assert needle in str(info.value)


def test_broken_private_key_is_reported_without_the_key(service_account_info: dict[str, Any]) -> None:
    pem = service_account_info["private_key"]
    lines = pem.splitlines()
    lines[3] = lines[3][::-1]  # corrupt the key body
    service_account_info["private_key"] = "\n".join(lines)
    with pytest.raises(ConfigurationError) as info:
        FCM(service_account=service_account_info)
    assert "'private_key'" in str(info.value)
    assert lines[1] not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_non_rsa_private_key_is_refused(service_account_info: dict[str, Any]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    service_account_info["private_key"] = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ConfigurationError, match="RSA"):
        FCM(service_account=service_account_info)


def test_invalid_json_text_does_not_echo_the_key(service_account_info: dict[str, Any]) -> None:
    text = json.dumps(service_account_info)[:-1]  # truncated
    with pytest.raises(ConfigurationError) as info:
        FCM(service_account=text)
    assert "not valid JSON" in str(info.value)
    assert _key_material(service_account_info) not in str(info.value)
    assert info.value.__cause__ is None


def test_invalid_json_file(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        FCM(service_account=path)


def test_json_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="JSON object"):
        FCM(service_account=path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        FCM(service_account=tmp_path / "nope.json")


@pytest.mark.parametrize("source", [42, b"{}", ["a"]])
def test_unsupported_service_account_types(source: object) -> None:
    with pytest.raises(ConfigurationError, match="service_account must be"):
        FCM(service_account=source)  # type: ignore[arg-type]


def test_credentials_of_the_wrong_type() -> None:
    with pytest.raises(ConfigurationError, match=r"google\.auth\.credentials\.Credentials"):
        FCM(credentials="token")  # type: ignore[arg-type]


@pytest.mark.parametrize("project_id", ["", "a/b", "has space", "-lead", "x?y"])
def test_bad_project_ids(service_account_info: dict[str, Any], project_id: str) -> None:
    with pytest.raises(ConfigurationError, match="project_id"):
        FCM(service_account=service_account_info, project_id=project_id)


@pytest.mark.parametrize(("field", "value"), [("base_url", "fcm.googleapis.com"), ("token_uri", "ftp://x/token")])
def test_bad_urls(service_account_info: dict[str, Any], field: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        FCM(service_account=service_account_info, **{field: value})  # type: ignore[arg-type]


def test_repr_shows_no_secrets(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info)
    text = repr(fcm)
    assert text == (
        "FCM(project_id='demo-project', credentials='fcm-sender@demo-project.iam.gserviceaccount.com', "
        "base_url='https://fcm.googleapis.com')"
    )
    assert _key_material(service_account_info) not in text
    assert "PRIVATE KEY" not in text
    assert repr(FCM(credentials=FakeCredentials("p"))) == (
        "FCM(project_id='p', credentials='FakeCredentials', base_url='https://fcm.googleapis.com')"
    )


# --- the provider -------------------------------------------------------------------------------------


def test_fcm_is_a_provider(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info)
    assert isinstance(fcm, Provider)
    assert fcm.name == "fcm"
    assert fcm.target_types == (FcmDevice, FcmTopic, FcmCondition)


def test_prepare_renders_the_send_request(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info)
    target = FcmDevice("tok")
    request = fcm.prepare(Notification(title="Héllo", ttl=60), target, now=NOW)
    assert request.provider == "fcm"
    assert request.target is target
    assert request.method == "POST"
    assert request.url == SEND_URL
    assert dict(request.headers) == {"content-type": "application/json", "x-goog-api-format-version": "2"}
    assert "authorization" not in request.headers
    assert request.credential_pending
    assert request.payload is not None
    assert request.payload["message"]["notification"] == {"title": "Héllo"}
    # Compact UTF-8 JSON: the bytes are exactly what the payload serialises to, nothing escaped.
    assert request.body == json.dumps(request.payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert "Héllo".encode() in request.body
    assert b": " not in request.body
    assert fcm.credentials.token is None


def test_prepare_refuses_foreign_targets(service_account_info: dict[str, Any]) -> None:
    class Other(Target):
        provider = "other"

        @property
        def key(self) -> str:
            return "k"

    with pytest.raises(ValidationError) as info:
        FCM(service_account=service_account_info).prepare(Notification(title="x"), Other(), now=NOW)
    assert info.value.field == "target"


def _request(fcm: FCM, target: FcmDevice | FcmTopic) -> PreparedRequest:
    return fcm.prepare(Notification(title="x"), target, now=NOW)


def test_parse_marks_dead_tokens_only_for_devices(service_account_info: dict[str, Any]) -> None:
    fcm = FCM(service_account=service_account_info)
    body = json.dumps(
        {
            "error": {
                "code": 404,
                "status": "NOT_FOUND",
                "message": "Requested entity was not found.",
                "details": [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}],
            }
        }
    ).encode()
    device = fcm.parse(_request(fcm, FcmDevice("tok")), 404, {}, body)
    assert device.token_invalid
    assert isinstance(device.error, InvalidTokenError)
    topic = fcm.parse(_request(fcm, FcmTopic("news")), 404, {}, body)
    assert not topic.token_invalid
    ok = fcm.parse(_request(fcm, FcmDevice("tok")), 200, {}, b'{"name":"projects/demo-project/messages/1"}')
    assert ok.ok
    assert ok.message_id == "projects/demo-project/messages/1"
