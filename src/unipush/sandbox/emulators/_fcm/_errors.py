"""The FCM emulator's answers other than success: ``google.rpc.Status`` bodies, Instance ID and OAuth errors.

Google's front end and FCM answer with a ``google.rpc.Status`` (``{"error": {"code", "message", "status",
"details"}}``), FCM adding an ``FcmError`` detail with its ``errorCode``; the Instance ID API with
``{"error": "<CODE>"}``; the token endpoint with RFC 6749 section 5.2's ``{"error", "error_description"}``.
Every one also carries ``x-unipush-sandbox-detail`` in plain words (sandbox only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from unipush.sandbox._interface import SandboxResponse, json_response
from unipush.sandbox.emulators._common import DETAIL_HEADER, header_safe

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_INVALID_TOKEN_MESSAGE = "The registration token is not a valid FCM registration token"  # noqa: S105 - prose
_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
BAD_CREDENTIALS = "Request had invalid authentication credentials. " + _HELP
NO_CREDENTIALS = "Request is missing required authentication credential. " + _HELP

# google.rpc.Code names and FcmError codes for injected ``status`` faults (FCM ErrorCode reference).
FAULTS: Mapping[int, tuple[str, str | None, str]] = {
    400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", None, BAD_CREDENTIALS),
    403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    404: ("NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    409: ("ABORTED", None, "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for the project's downstream messages."),
    500: ("INTERNAL", "INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", None, "Operation is not implemented, or supported, or enabled."),
    503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", None, "The request deadline was exceeded."),
}


class Reject(Exception):
    """Internal: an answer other than success, raised from deep in a check and returned by ``respond``."""

    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


def iid_error(status: int, code: str, detail: str) -> SandboxResponse:
    # The Instance ID API's own refusals are {"error": "<CODE>"} (what the Firebase Admin SDKs parse).
    return json_response(status, {"error": code}, {DETAIL_HEADER: header_safe(detail)})


def fcm_invalid(field_path: str, description: str, *, detail: str | None = None) -> None:
    raise Reject(
        rpc_status(
            400,
            "INVALID_ARGUMENT",
            description,
            [
                {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
                {"@type": BAD_REQUEST, "fieldViolations": [{"field": field_path, "description": description}]},
            ],
            detail or description,
        )
    )


def rpc_status(
    code: int,
    status: str,
    message: str,
    details: Sequence[Mapping[str, Any]],
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> SandboxResponse:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return json_response(code, {"error": error}, {DETAIL_HEADER: header_safe(detail), **(headers or {})})


def unauthenticated(message: str, reason: str | None, detail: str, *, expired: bool = False) -> SandboxResponse:
    # Google: a 401 carries WWW-Authenticate; the body is a google.rpc.Status without an FcmError.
    challenge = 'Bearer realm="https://accounts.google.com/"'
    if expired:
        challenge += ', error="invalid_token"'
    details = [error_info(reason)] if reason is not None else []
    return rpc_status(401, "UNAUTHENTICATED", message, details, detail, {"www-authenticate": challenge})


def unregistered(detail: str) -> SandboxResponse:
    return rpc_status(
        404,
        "NOT_FOUND",
        "Requested entity was not found.",
        [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}],
        detail,
    )


def invalid_token(detail: str) -> SandboxResponse:
    return rpc_status(
        400,
        "INVALID_ARGUMENT",
        _INVALID_TOKEN_MESSAGE,
        [
            {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            },
        ],
        detail,
    )


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": _ERROR_INFO,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {
            "service": "fcm.googleapis.com",
            "method": "google.firebase.fcm.v1.FcmService.SendMessage",
            **metadata,
        },
    }


def with_error_code(response: SandboxResponse, code: str) -> SandboxResponse:
    """``response`` with its FcmError errorCode replaced (or added) — for ``Fault.reason``."""
    document = json.loads(response.body)
    details = [d for d in document["error"].get("details", []) if d.get("@type") != FCM_ERROR]
    document["error"]["details"] = [{"@type": FCM_ERROR, "errorCode": code}, *details]
    return json_response(response.status, document, response.headers)


def oauth_error(status: int, error: str, description: str) -> SandboxResponse:
    # Google's token endpoint (RFC 6749 section 5.2): {"error": ..., "error_description": ...}.
    return json_response(
        status, {"error": error, "error_description": description}, {DETAIL_HEADER: header_safe(description)}
    )


def not_found_page(path: str) -> SandboxResponse:
    body = (
        "<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 404 (Not Found)</title>"
        f"<p><b>404.</b> <ins>That’s an error.</ins><p>The requested URL <code>{_html_escape(path)}</code> "
        "was not found on this server. <ins>That’s all we know.</ins>\n"
    )
    return SandboxResponse(
        status=404,
        headers={"content-type": "text/html; charset=UTF-8", DETAIL_HEADER: "not POST /v1/projects/<p>/messages:send"},
        body=body.encode(),
    )


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
