"""The transport seam: how a prepared request reaches the network, and a mock for tests.

A client sends every request through one ``Transport``: by default unipush's own HTTP/2 engine, with
``http_client=`` an adapter over your ``httpx`` client, and with ``transport=`` any object that
implements the protocol below. ``MockTransport(handler)`` is such an object, like httpx's
``MockTransport``: the handler receives each ``Request`` and returns a ``Response`` (or raises
``unipush.TransportError`` to play a network failure), so the whole sending path (credentials,
provider encoders and decoders, the retry policy and its budget, callbacks, results) runs in
microseconds with no socket::

    from unipush import PushClient
    from unipush.transports import MockTransport, Request, Response

    def apns(request: Request) -> Response:
        return Response(410, json={"reason": "Unregistered", "timestamp": 1700000000000})

    with PushClient(apns=my_apns_config, transport=MockTransport(apns)) as client:
        assert client.send(notification, device).token_invalid

What a mock answers is only as true as the handler: to test against the services' real rules over
real sockets, use the sandbox (``unipush.sandbox``, ``unipush.testing``).
"""

from __future__ import annotations

from unipush._mock_transport import Handler, MockTransport, Request, Response
from unipush._transport import Transport, TransportResponse

__all__ = ["Handler", "MockTransport", "Request", "Response", "Transport", "TransportResponse"]
