"""Fixtures for the FCM tests: a fake service account with an RSA key generated per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@pytest.fixture
def service_account_info(rsa_pem: str) -> dict[str, Any]:
    """A service account key shaped like the JSON Google issues, with a throwaway key."""
    return {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": rsa_pem,
        "client_email": "fcm-sender@demo-project.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


@pytest.fixture
def service_account_file(tmp_path: Path, service_account_info: dict[str, Any]) -> Path:
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(service_account_info), encoding="utf-8")
    return path
