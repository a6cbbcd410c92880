"""``AsyncPushClient``: the asyncio client."""

from __future__ import annotations

from types import TracebackType

from unipush._client import BaseClient

__all__ = ["AsyncPushClient"]


class AsyncPushClient(BaseClient):
    """Send notifications from asyncio code: ``async with AsyncPushClient(...) as client``.

    Takes the same provider configs as ``PushClient``.
    """

    async def aclose(self) -> None:
        """Release the client's resources. Safe to call twice."""

    async def __aenter__(self) -> AsyncPushClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
