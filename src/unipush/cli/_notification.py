"""The notification flags of ``unipush send`` and ``unipush render``, and the ``Notification`` they make."""

from __future__ import annotations

import argparse

from unipush import Action, Notification, ValidationError
from unipush.cli._common import fail, parse_duration

__all__ = ["add_notification_arguments", "cli_error_text", "notification_from_args"]

# Notification field -> the flag that sets it, so an error names what the user typed.
_FLAG_FOR_FIELD = {
    "deep_link": "--link",
    "content_available": "--silent",
    "collapse_key": "--collapse-key",
    "thread_id": "--thread-id",
    "endpoint": "--webpush",
}

# What a library message tells a Python caller to do, as the command line does it: a CLI user can
# neither set Notification fields nor pass WebPush(...) arguments, only flags.
_CLI_SPELLINGS = (
    (" (or use WebPushOptions(payload_format='json'))", ""),
    (", or use WebPushOptions(payload_format='json') and have your service worker show one", " (--title)"),
    ("Notification.deep_link", "--link"),
    ("WebPush(default_navigate='https://your.site/')", "--webpush-default-navigate URL"),
    ("WebPush(allow_local_endpoints=True)", "--webpush-allow-local-endpoints"),
)


def cli_error_text(error: BaseException) -> str:
    """``str(error)`` in command-line terms: the field as the flag that sets it, hints as flags.

    ``ValidationError("deep_link", "... set Notification.deep_link")`` becomes ``--link: ... set
    --link``; fields without a flag of their own keep their name.
    """
    if isinstance(error, ValidationError):
        field = error.field.split(".", 1)[0].split("[", 1)[0]
        flag = _FLAG_FOR_FIELD.get(field)
        if flag is None and f"--{field.replace('_', '-')}" in _NOTIFICATION_FLAGS:
            flag = f"--{field.replace('_', '-')}"
        text = f"{flag if flag is not None and field == error.field else error.field}: {error.message}"
    else:
        text = str(error)
    for python, cli in _CLI_SPELLINGS:
        text = text.replace(python, cli)
    return text


def add_notification_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that describe the notification (all optional; ``docs/mapping.md`` has the mapping)."""
    group = parser.add_argument_group("notification")
    group.add_argument("--title", help="the title")
    group.add_argument("--subtitle", help="a second line under the title (APNs subtitle)")
    group.add_argument("--body", help="the message text")
    group.add_argument("--image", metavar="URL", help="a picture to show (https URL)")
    group.add_argument("--icon", metavar="URL", help="the notification icon (Android, Web Push)")
    group.add_argument("--link", metavar="URL", help="where a tap leads (deep_link)")
    group.add_argument("--badge", type=int, metavar="N", help="the app icon badge number (0 clears it)")
    group.add_argument("--sound", help="a sound name, or 'default'")
    group.add_argument("--collapse-key", metavar="KEY", help="a newer notification with this key replaces older ones")
    group.add_argument(
        "--ttl",
        type=_duration,
        metavar="DURATION",
        help="how long the service keeps it for an offline device: seconds, or 90s, 15m, 1h, 7d",
    )
    group.add_argument("--priority", choices=("high", "normal"), help="delivery priority")
    group.add_argument("--category", help="the APNs category / Android click action")
    group.add_argument("--thread-id", metavar="ID", help="groups notifications together (APNs thread-id)")
    group.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a custom data entry for the app (repeatable)",
    )
    group.add_argument(
        "--action",
        action="append",
        default=[],
        metavar="ID=TITLE[=URL]",
        help="a button: its id, its title and, for Web Push, the URL it opens (repeatable)",
    )
    group.add_argument(
        "--silent",
        action="store_true",
        help="a background push that wakes the app (content-available), usually with --data",
    )


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _data(entries: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            fail(f"--data: expected KEY=VALUE, got {entry!r}")
        data[key] = value
    return data


def _actions(entries: list[str]) -> list[Action]:
    actions: list[Action] = []
    for entry in entries:
        # maxsplit=2: a URL may itself contain "=" (a query string); an id or a title cannot.
        parts = entry.split("=", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            fail(f"--action: expected ID=TITLE or ID=TITLE=URL, got {entry!r}")
        url = parts[2] if len(parts) == 3 and parts[2] else None
        try:
            actions.append(Action(parts[0], parts[1], deep_link=url))
        except ValidationError as exc:
            fail(f"--action {entry!r}: {exc}")
    return actions


_NOTIFICATION_FLAGS = frozenset(
    {"--title", "--subtitle", "--body", "--image", "--icon", "--badge", "--sound", "--ttl", "--priority"}
    | {"--category", "--data", "--action"}
)


def notification_from_args(args: argparse.Namespace) -> Notification:
    """The ``Notification`` the flags describe; an invalid one is a usage error naming the flag."""
    try:
        return Notification(
            title=args.title,
            subtitle=args.subtitle,
            body=args.body,
            image=args.image,
            icon=args.icon,
            deep_link=args.link,
            actions=_actions(args.action),
            category=args.category,
            thread_id=args.thread_id,
            badge=args.badge,
            sound=args.sound,
            collapse_key=args.collapse_key,
            ttl=args.ttl,
            priority=args.priority,
            data=_data(args.data),
            content_available=args.silent,
        )
    except ValidationError as exc:
        field = exc.field.split(".", 1)[0].split("[", 1)[0]
        flag = _FLAG_FOR_FIELD.get(field, "--" + field.replace("_", "-"))
        fail(f"{flag}: {exc.message}" if field == exc.field else f"{flag}: {exc}")
