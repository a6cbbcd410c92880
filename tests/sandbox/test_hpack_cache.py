"""The hpack Huffman cache is opt-in: a sandbox in a user's process leaves hpack alone.

``install_hpack_cache`` replaces a function inside ``hpack`` for the whole process, so each test runs in
a fresh interpreter: what it asserts about the process is then not decided by an earlier test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

# One APNs send through a started sandbox, over TLS + HTTP/2: the server decodes the provider token.
_SEND = """
from unipush import Notification
from unipush.sandbox import Sandbox

def send_once():
    with Sandbox() as sandbox, sandbox.client() as client:
        assert client.send(Notification(title="hi"), sandbox.apns_device()).ok
"""


def _run(script: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SEND) + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_importing_and_running_a_sandbox_leaves_hpack_alone() -> None:
    out = _run(
        """
        import hpack.hpack
        import hpack.huffman_table
        send_once()
        print(vars(hpack.hpack)["decode_huffman"] is hpack.huffman_table.decode_huffman)
        """
    )
    assert out == "True"


def test_install_hpack_cache_is_opt_in_idempotent_and_transparent() -> None:
    out = _run(
        """
        import hpack.hpack
        import hpack.huffman_table
        from hpack.huffman import HuffmanEncoder
        from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
        from unipush.sandbox import install_hpack_cache

        install_hpack_cache()
        decode = vars(hpack.hpack)["decode_huffman"]
        assert decode is not hpack.huffman_table.decode_huffman
        install_hpack_cache()
        assert vars(hpack.hpack)["decode_huffman"] is decode  # idempotent: not wrapped twice
        encoder = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
        token = b"bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ." + b"x" * 150
        texts = [token, b"short", *(f"/3/device/{i:064x}".encode() for i in range(600)), token]
        for text in texts:
            encoded = encoder.encode(text)
            assert decode(encoded) == text
            assert decode(bytearray(encoded)) == text
        send_once()  # the server works through the cache
        print("ok")
        """
    )
    assert out == "ok"
