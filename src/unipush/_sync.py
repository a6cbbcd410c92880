"""``PushClient``: the synchronous client."""

from __future__ import annotations

from types import TracebackType

from unipush._client import BaseClient

__all__ = ["PushClient"]


class PushClient(BaseClient):
    """Send notifications to APNs, FCM, Web Push and plugin providers from synchronous code.

    Pass a config per provider you use (``apns=APNs(...)``, ``fcm=FCM(...)``, ``webpush=WebPush(...)``)
    and/or plugin providers in ``providers=[...]``. A target's type picks its provider.
    """

    def close(self) -> None:
        """Release the client's resources. Safe to call twice."""

    def __enter__(self) -> PushClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
