"""The ``unipush`` command line: ``python -m unipush`` and the ``unipush`` script both run ``main``.

One module per command, as ``unipush --help`` lists them: ``send``, ``render``, ``vapid``, ``sandbox`` and
``demo``. What ``send`` and ``render`` share lives in private modules: the settings (``_config``: flags,
environment, TOML), the targets (``_targets``: flags or a streamed file), the notification flags
(``_notification``), the progress line and counters (``_progress``), and the ``Session`` that turns the
settings into providers and a client (``_session``). ``_app`` builds the parser and maps errors to exit
codes (``_common``). The CLI uses the library's public API only.
"""

from __future__ import annotations

from unipush.cli._app import main

__all__ = ["main"]
