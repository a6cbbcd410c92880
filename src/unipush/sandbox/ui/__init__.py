"""The sandbox inbox as a web page: each delivery drawn as the device shows it, live.

``Sandbox(ui=True)`` (and ``unipush sandbox``, unless ``--no-ui``) serves it; ``sandbox.ui_url`` is
its address. ``SandboxUI`` ties the pieces to a sandbox: the ``Feed`` (what the page shows, joined
from the inbox and from every answered request) and the ``InboxPage`` (the HTTP server).
"""

from __future__ import annotations

from collections.abc import Mapping

from unipush.sandbox._inbox import Inbox
from unipush.sandbox._interface import Emulator
from unipush.sandbox.server import SandboxServer
from unipush.sandbox.ui._feed import MAX_ENTRIES, Feed
from unipush.sandbox.ui._page import InboxPage

__all__ = ["MAX_ENTRIES", "Feed", "InboxPage", "SandboxUI"]


class SandboxUI:
    """The inbox page of one sandbox: made once (its feed outlives ``stop``/``start``, like the inbox).

    Args:
        inbox: the sandbox's inbox (the feed subscribes to it).
        host: the address the page binds (the sandbox's).
        port: a fixed port; 0 picks a free one.
    """

    def __init__(self, inbox: Inbox, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.feed = Feed()
        inbox.subscribe(self.feed.delivered)
        self._host = host
        self._port = port
        self._page: InboxPage | None = None

    @property
    def url(self) -> str:
        """The page's URL (``http://127.0.0.1:<port>/``); ``RuntimeError`` when not serving."""
        if self._page is None:
            raise RuntimeError("the inbox page is not running")
        return self._page.url

    async def start(self, servers: Mapping[str, SandboxServer], emulators: Mapping[str, Emulator]) -> None:
        """Watch every server's answers and start serving the page (on the sandbox's loop)."""
        for name, server in servers.items():
            server.on_exchange = self.feed.observer(name, emulators[name].target_of)
        page = InboxPage(self.feed, host=self._host, port=self._port)
        await page.start()
        self._page = page

    async def close(self) -> None:
        """Stop serving (open pages reconnect when the sandbox starts again on the same port)."""
        page, self._page = self._page, None
        if page is not None:
            await page.close()
