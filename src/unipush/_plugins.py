"""Provider plugins: discovery through the ``unipush.providers`` entry-point group.

A package adds a push service by implementing ``unipush.Provider`` and declaring, in its
``pyproject.toml``::

    [project.entry-points."unipush.providers"]
    expo = "unipush_expo:Expo.from_env"

The entry point's name is the provider's name; its object is a factory (a class, a classmethod or a
function) that builds the provider from keyword options. The built-in providers are registered the
same way (``apns = "unipush.apns:APNs"``...), so ``load_provider("apns", key=..., ...)`` and
``load_provider("expo")`` go through one path. Nothing is imported until a provider is asked for by
name: listing the installed providers reads only package metadata.

Clients accept the same names: ``PushClient(providers=["expo"])`` builds the plugin with no options
(the plugin then reads its settings from environment variables or defaults, as its documentation
says), and ``PushClient(providers=[("expo", {"access_token": ...})])`` passes options.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, TypeAlias

from unipush._errors import ConfigurationError
from unipush._provider import Provider, check_provider

__all__ = ["PROVIDER_ENTRY_POINT_GROUP", "ProviderSpec", "available_providers", "load_provider", "resolve_providers"]

PROVIDER_ENTRY_POINT_GROUP = "unipush.providers"
"""The entry-point group that provider plugins (and the built-in providers) register in."""

ProviderSpec: TypeAlias = Provider | str | tuple[str, Mapping[str, Any]]
"""What ``providers=[...]`` accepts: a provider object, the name of an installed provider (built with
no options), or a ``(name, options)`` pair whose options are passed to the provider's factory."""


def _entry_points() -> list[metadata.EntryPoint]:
    """Every entry point in the group, in the order the installed distributions are found."""
    return list(metadata.entry_points(group=PROVIDER_ENTRY_POINT_GROUP))


def available_providers() -> dict[str, metadata.EntryPoint]:
    """The installed providers by name: the built-ins and every plugin, without importing any of them.

    Each value is an ``importlib.metadata.EntryPoint``: ``.value`` is the factory's import path
    (``"unipush.apns:APNs"``) and ``.dist`` the distribution that registered it. When two
    distributions register the same name, the first one found is listed (``load_provider`` refuses
    such a name). Sorted by name.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for entry_point in _entry_points():
        found.setdefault(entry_point.name, entry_point)
    return dict(sorted(found.items()))


def _describe(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    source = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"{entry_point.value}{source}"


def load_provider(name: str, /, **options: Any) -> Provider:
    """Build the installed provider registered as ``name``, passing ``options`` to its factory.

    ``load_provider("expo")`` is what ``PushClient(providers=["expo"])`` does;
    ``load_provider("webpush", vapid_private_key=..., subject=...)`` is ``WebPush(...)`` found through
    its entry point. Option values are never shown in error messages (they are often credentials).

    Raises:
        ConfigurationError: no installed provider has that name (the message lists the installed
            ones); two distributions register it; its module cannot be imported; its factory refuses
            the options or fails; or what it builds does not satisfy ``unipush.Provider`` or has a
            different ``name``.
    """
    if not isinstance(name, str) or not name:  # type: ignore[redundant-expr]  # callers may pass anything
        raise ConfigurationError(f"a provider name must be a non-empty string, got {name!r}")
    candidates = [ep for ep in _entry_points() if ep.name == name]
    if not candidates:
        installed = ", ".join(available_providers()) or "none"
        raise ConfigurationError(
            f"no provider named {name!r} is installed (installed: {installed}); install the package that "
            f"registers it in the {PROVIDER_ENTRY_POINT_GROUP!r} entry-point group, or pass a provider object"
        )
    if len({ep.value for ep in candidates}) > 1:
        sources = "; ".join(_describe(ep) for ep in candidates)
        raise ConfigurationError(
            f"provider name {name!r} is registered by more than one installed package ({sources}): "
            "uninstall one, or pass a provider object instead of the name"
        )
    entry_point = candidates[0]
    origin = f"provider plugin {name!r} ({_describe(entry_point)})"
    try:
        factory = entry_point.load()
    except Exception as exc:  # a plugin's import may fail in any way; report it as configuration
        raise ConfigurationError(f"{origin} could not be loaded: {type(exc).__name__}: {exc}") from exc
    if not callable(factory):
        raise ConfigurationError(f"{origin} names a {type(factory).__name__}, not a class or function to call")
    given = f"options {', '.join(sorted(options))}" if options else "no options"
    try:
        provider = factory(**options)
    except ConfigurationError:
        raise  # the provider's own message names the setting
    except TypeError as exc:
        raise ConfigurationError(f"{origin} cannot be built with {given}: {exc}") from exc
    except Exception as exc:
        raise ConfigurationError(
            f"{origin} failed while being built with {given}: {type(exc).__name__}: {exc}"
        ) from exc
    checked = check_provider(provider, origin=origin)
    if checked.name != name:
        raise ConfigurationError(
            f"{origin} built a provider named {checked.name!r}: a provider's name must equal its entry point's"
        )
    return checked


def resolve_providers(specs: Iterable[ProviderSpec]) -> list[Provider]:
    """Turn a client's ``providers=[...]`` into provider objects (names are loaded as plugins)."""
    if isinstance(specs, (str, bytes)):
        raise ConfigurationError(f"providers= takes a list, e.g. providers=[{specs!r}], not a string")
    resolved: list[Provider] = []
    for index, spec in enumerate(specs):
        if isinstance(spec, str):
            resolved.append(load_provider(spec))
        elif isinstance(spec, tuple):
            shape: tuple[object, ...] = spec  # checked at run time: callers may pass any tuple
            if len(shape) != 2 or not isinstance(shape[0], str) or not isinstance(shape[1], Mapping):
                got = ", ".join(type(item).__name__ for item in shape)
                raise ConfigurationError(f"providers[{index}]: a tuple must be (name, options-dict), got ({got})")
            name, options = spec
            if not all(isinstance(key, str) for key in options):
                raise ConfigurationError(f"providers[{index}]: option names must be strings")
            resolved.append(load_provider(name, **options))
        else:
            resolved.append(check_provider(spec, origin=f"providers[{index}]"))
    return resolved
