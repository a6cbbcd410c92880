"""Fixtures shared by the cross-provider tests."""

from __future__ import annotations

import pytest

from tests.support import all_providers_client
from unipush import PushClient


@pytest.fixture
def client() -> PushClient:
    return all_providers_client()
