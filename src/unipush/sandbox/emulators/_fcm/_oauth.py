"""The FCM emulator's OAuth: Google's token endpoint for the sandbox's service account, and bearer checks.

**Token endpoint** (``POST /token``, Google's OAuth 2.0 JWT bearer grant, RFC 7523): the form carries
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion=<RS256 JWT>``. The JWT must be
signed by the service-account key (``kid``, when present, is its ``private_key_id``), ``iss`` is the
client email, ``aud`` is ``token_uri`` or Google's own token endpoint (google-auth always sends
``https://oauth2.googleapis.com/token``), ``scope`` is not empty, and ``iat``/``exp`` describe a token of at
most one hour around now. Errors are Google's: ``400 {"error": "invalid_grant" | "invalid_request" |
"unsupported_grant_type" | "invalid_scope", "error_description": ...}``. Success is
``{"access_token": "ya29...", "expires_in": 3599, "token_type": "Bearer"}``. A self-signed service-account
JWT (AIP-4111, google-auth's ``always_use_jwt_access``) is also accepted as a bearer token for sends.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from unipush.sandbox._interface import SandboxRequest, SandboxResponse, json_response
from unipush.sandbox.emulators._fcm._errors import (
    BAD_CREDENTIALS,
    NO_CREDENTIALS,
    Reject,
    error_info,
    oauth_error,
    rpc_status,
    unauthenticated,
)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
"""The OAuth scope for FCM HTTP v1."""

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The broad Google Cloud scope, which FCM accepts as well."""

ACCESS_TOKEN_LIFETIME = 3599
"""Seconds an access token lives (``expires_in``), as Google's token endpoint answers."""

CLIENT_EMAIL = "sandbox@unipush-sandbox.iam.gserviceaccount.com"
"""The sandbox service account's email (the JWT grant's ``iss``)."""

URLSAFE = string.ascii_letters + string.digits + "-_"

# google-auth signs every grant for Google's endpoint whatever token_uri says; these are the audiences
# Google's token service answers to.
_GOOGLE_TOKEN_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    }
)
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_TIME_SKEW = 300  # seconds of clock skew tolerated on JWT iat/exp
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


class OAuthService:
    """One service account's key, the token endpoint that exchanges its grants, and the tokens issued.

    Args:
        base_url_getter: the emulator's origin (``token_uri`` is ``<origin>/token``; a self-signed JWT
            may name the origin as its audience).
        clock: seconds since the epoch.
    """

    def __init__(self, base_url_getter: Callable[[], str], clock: Callable[[], float]) -> None:
        self._base_url = base_url_getter
        self._clock = clock
        self.client_email = CLIENT_EMAIL
        self.private_key_id = secrets.token_hex(20)
        # RSA-2048 generation takes a few tens of milliseconds: fine once per sandbox.
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self.private_key.public_key()
        self.token_requests = 0
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}  # access token -> (expires at, scopes)
        self._expired: set[str] = set()
        self._self_signed: dict[str, tuple[float, frozenset[str]]] = {}

    @property
    def token_uri(self) -> str:
        """The token endpoint (needs the server to be bound)."""
        return self._base_url().rstrip("/") + "/token"

    def mint_access_token(self, scopes: Sequence[str] = (FCM_SCOPE,)) -> str:
        """An access token issued directly, without the OAuth round trip (for plain-HTTP tests)."""
        token = "ya29." + "".join(secrets.choice(URLSAFE) for _ in range(120))
        with self._lock:
            self._tokens[token] = (self._clock() + ACCESS_TOKEN_LIFETIME, frozenset(scopes))
        return token

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid: the next send with one gets 401."""
        with self._lock:
            self._expired.update(self._tokens)
            self._expired.update(self._self_signed)
            self._tokens.clear()
            self._self_signed.clear()

    def token_endpoint(self, request: SandboxRequest) -> SandboxResponse:
        """``POST /token``: Google's JWT-bearer grant (RFC 7523) for this service account."""
        with self._lock:
            self.token_requests += 1
        if request.method != "POST":
            return oauth_error(405, "invalid_request", f"{request.method} is not supported; use POST")
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        grant_type = form.get("grant_type", [""])[0]
        if not grant_type:
            return oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        if grant_type != _JWT_BEARER:
            return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion", [""])[0]
        if not assertion:
            return oauth_error(400, "invalid_request", "Missing required parameter: assertion")
        claims = self.verify_service_jwt(assertion)
        if claims is None:
            return oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != self.client_email:
            return oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        audience = claims.get("aud")
        if audience not in _GOOGLE_TOKEN_AUDIENCES and audience != self.token_uri:
            return oauth_error(
                400, "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {self.token_uri}"
            )
        now = self._clock()
        if not short_lived(claims, now):
            return oauth_error(400, "invalid_grant", _SHORT_LIVED)
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        if not scopes:
            return oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = self.mint_access_token(sorted(scopes))
        return json_response(
            200,
            {"access_token": token, "expires_in": ACCESS_TOKEN_LIFETIME, "token_type": "Bearer"},
            {"cache-control": "no-cache, no-store, max-age=0, must-revalidate"},
        )

    def verify_service_jwt(self, token: str) -> dict[str, Any] | None:
        """The claims of an RS256 JWT signed by the service-account key, or None."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        if header.get("alg") != "RS256":
            return None
        kid = header.get("kid")
        if kid is not None and kid != self.private_key_id:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                # Time and audience are checked here against the injected clock and Google's rules.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        return claims

    def authorize(self, authorization: str | None) -> None:
        """Raise ``Reject`` (401; 403 for a missing scope) unless ``authorization`` is a live token of ours."""
        if authorization is None:
            raise Reject(unauthenticated(NO_CREDENTIALS, "CREDENTIALS_MISSING", "no authorization header"))
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Reject(unauthenticated(BAD_CREDENTIALS, None, "the authorization header is not 'Bearer <token>'"))
        now = self._clock()
        with self._lock:
            issued = self._tokens.get(token) or self._self_signed.get(token)
            expired = token in self._expired
        if issued is None and not expired and token.count(".") == 2:
            issued = self._verify_self_signed(token, now)
        if issued is not None and issued[0] <= now:
            issued, expired = None, True
        if issued is None:
            if expired:
                raise Reject(
                    unauthenticated(BAD_CREDENTIALS, "ACCESS_TOKEN_EXPIRED", "the access token expired", expired=True)
                )
            raise Reject(unauthenticated(BAD_CREDENTIALS, None, "the access token was not issued by this sandbox"))
        if not issued[1] & {FCM_SCOPE, CLOUD_PLATFORM_SCOPE}:
            raise Reject(
                rpc_status(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                    [error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT")],
                    "the token has neither the firebase.messaging nor the cloud-platform scope",
                )
            )

    def _verify_self_signed(self, token: str, now: float) -> tuple[float, frozenset[str]] | None:
        # AIP-4111: a service account may use a JWT it signed itself as the access token, with the API's
        # URL as aud or the scopes in a "scope" claim.
        claims = self.verify_service_jwt(token)
        if claims is None or claims.get("iss") != self.client_email or not short_lived(claims, now):
            return None
        scope = claims.get("scope")
        scopes = set(scope.split()) if isinstance(scope, str) else set()
        audience = claims.get("aud")
        if isinstance(audience, str) and audience.rstrip("/") in (
            "https://fcm.googleapis.com",
            self._base_url().rstrip("/"),
        ):
            scopes.add(FCM_SCOPE)
        if not scopes:
            return None
        entry = (float(claims["exp"]), frozenset(scopes))
        with self._lock:
            self._self_signed[token] = entry
        return entry


def short_lived(claims: Mapping[str, Any], now: float) -> bool:
    """Google: iat and exp must describe a token of at most one hour, valid around now."""
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, bool) or isinstance(exp, bool):
        return False
    if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
        return False
    return iat < exp and exp - iat <= 3600 and iat <= now + _TIME_SKEW and exp > now - _TIME_SKEW
