"""The public surface: ``__all__`` lists exactly the public names, and each is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import unipush

PUBLIC_MODULES = [
    "unipush",
    "unipush.apns",
    "unipush.fcm",
    "unipush.policies",
    "unipush.provider",
    "unipush.transports",
    "unipush.webpush",
    "unipush.sandbox",
    "unipush.sandbox.server",
    "unipush.sandbox.emulators",
]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_complete_and_has_no_duplicates(module_name: str) -> None:
    # Order is ruff's RUF022 (constants, classes, functions), checked by the lint job.
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{module_name}.__all__ has duplicates"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in {"annotations"}
    }
    assert public <= set(exported) | {"TYPE_CHECKING"}, public - set(exported)
    for name in exported:
        assert hasattr(module, name), f"{module_name}.{name} is listed but missing"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_class_and_function_has_a_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{module_name}.{name} has no docstring"


def test_contract_names_are_importable() -> None:
    from unipush import Action, AsyncPushClient, Notification, PushClient, target_from_dict  # noqa: F401
    from unipush.apns import APNs, ApnsDevice  # noqa: F401
    from unipush.fcm import FCM, FcmCondition, FcmDevice, FcmTopic  # noqa: F401
    from unipush.webpush import WebPush, WebPushSubscription  # noqa: F401


def test_credential_stores_are_exported() -> None:
    # docs/credentials.md: the seam and its three built-ins; each built-in satisfies the protocol.
    for name in ("CredentialStore", "StoredCredential", "MemoryStore", "FileStore", "RedisStore"):
        assert name in unipush.__all__
    assert isinstance(unipush.MemoryStore(), unipush.CredentialStore)
    assert isinstance(unipush.FileStore("unused"), unipush.CredentialStore)
    assert isinstance(unipush.RedisStore("redis://localhost:1/0"), unipush.CredentialStore)  # connects lazily


def test_error_tree() -> None:
    assert issubclass(unipush.PayloadTooLargeError, unipush.ValidationError)
    assert issubclass(unipush.TimeoutError, unipush.TransportError)
    assert issubclass(unipush.TimeoutError, TimeoutError)
    for name in ("AuthenticationError", "RateLimitedError", "InvalidTokenError"):
        assert issubclass(getattr(unipush, name), unipush.ProviderError)
    for name in ("ConfigurationError", "ValidationError", "TransportError", "ProviderError", "PolicyError"):
        assert issubclass(getattr(unipush, name), unipush.UnipushError)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("unipush").joinpath("py.typed").is_file()


def test_serialized_form_api() -> None:
    # The portable form (docs/serialization.md): other integrations (Celery) code against these names.
    assert callable(unipush.target_from_dict)
    assert callable(unipush.Notification.to_dict)
    assert callable(unipush.Notification.from_dict)
    assert callable(unipush.Target.to_dict)
    assert "target_from_dict" in unipush.__all__


def test_json_schemas_are_package_data() -> None:
    from importlib.resources import files

    for name in ("notification-v1.schema.json", "target-v1.schema.json"):
        assert files("unipush").joinpath("schema").joinpath(name).is_file()
