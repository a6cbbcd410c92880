"""An opt-in speed-up of hpack's Huffman decoder for a sandbox process (``install_hpack_cache``)."""

from __future__ import annotations

from collections.abc import Callable

import hpack.hpack
from hpack.huffman_table import decode_huffman as _decode_huffman

__all__ = ["install_hpack_cache"]


def install_hpack_cache() -> None:
    """Memoise hpack's Huffman decoder for long strings, for the whole process (idempotent).

    Opt-in, for a process that is a sandbox: ``unipush sandbox`` calls it, and so may a benchmark's or a
    test suite's own sandbox process. It is never applied on import or by ``Sandbox.start()``, because it
    replaces a function inside ``hpack``, which every other HTTP/2 user in the process shares.

    Every APNs request carries its ``authorization`` JWT (~200 bytes) as a never-indexed literal —
    Apple asks for that, and h2 does it for ``authorization`` — so the server Huffman-decodes the
    same token on every request: ~25 µs of pure Python, a fifth of the server's CPU per request.
    A provider token stays the same for 20-60 minutes, so a small cache turns that into a dict lookup.
    The function is pure; only the module-level name hpack's decoder calls is replaced.
    """
    namespace = vars(hpack.hpack)
    if namespace.get("decode_huffman") is not _decode_huffman:
        return  # already installed, or an hpack that no longer works this way: leave it alone
    original: Callable[[bytes | bytearray | memoryview | None], bytes] = _decode_huffman
    # Two generations: a full young generation becomes the old one, and a hit in the old one moves
    # back to the young, so the token (hit on every request) survives a flood of one-off strings
    # (device tokens, apns-ids) without the cache growing past 2 x 256 entries.
    young: dict[bytes, bytes] = {}
    old: dict[bytes, bytes] = {}

    def decode_huffman(huffman_string: bytes | bytearray | memoryview | None) -> bytes:
        nonlocal young, old
        if type(huffman_string) is not bytes or len(huffman_string) < 32:
            return original(huffman_string)
        decoded = young.get(huffman_string)
        if decoded is None:
            decoded = old.get(huffman_string)
            if decoded is None:
                decoded = original(huffman_string)
            if len(young) >= 256:
                old, young = young, {}
            young[huffman_string] = decoded
        return decoded

    namespace["decode_huffman"] = decode_huffman
