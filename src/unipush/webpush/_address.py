"""Which machine a Web Push endpoint's host names: the guard against subscriptions aimed at private networks.

Subscriptions arrive from browsers, that is from anyone, and the server then POSTs to their endpoint.
An endpoint whose host is a private, loopback or link-local address makes the server call into its own
network (SSRF). The check must look at the address the connection will use, not at the text: one address
has many spellings, and the layers below read them all.

* The resolver. ``getaddrinfo`` (glibc, musl, macOS) parses a numeric host with ``inet_aton`` rules:
  one to four parts, each decimal, octal (a leading ``0``) or hex (``0x``), the last part filling the
  remaining bytes. ``10.1`` is 10.0.0.1, ``2852039166`` and ``0xa9fea9fe`` are 169.254.169.254, ``0``
  is 0.0.0.0 (which Linux connects to this machine).
* IDNA. Python's socket layer encodes a non-ASCII host with the ``idna`` codec (RFC 3490 nameprep,
  i.e. NFKC) and splits labels on the ideographic full stops U+3002, U+FF0E and U+FF61; UTS #46 (what
  browsers and the ``idna`` package do) maps the same way. So ``１０.０.０.１`` and ``10。0。0。1`` are
  10.0.0.1 on the wire.
* The WHATWG URL parser (browsers) percent-decodes the host, drops one trailing dot and treats a host
  whose last label is a number as IPv4, with the ``inet_aton`` rules above.
* IPv6 literals can carry an IPv4 address: IPv4-mapped ``::ffff:a.b.c.d`` (the socket connects to the
  IPv4 address), IPv4-compatible ``::a.b.c.d``, SIIT ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::/96``
  (RFC 6052) and 6to4 ``2002::/16`` (RFC 3056) route to it; Teredo (``2001::/32``) is not global.

The rules, applied to the host after the same normalisation (percent-decoding, NFKC and case folding,
the ideographic dots, trailing dots):

1. A host that is an IPv4 address in any spelling must be written as a browser serialises it, four
   decimal numbers (``a.b.c.d``); any other spelling is refused, whatever address it denotes, because
   ``PushSubscription.toJSON()`` never produces one and parsers disagree about them (``010`` is 8 to
   ``inet_aton`` and invalid to a browser).
2. The address (and any IPv4 address inside an IPv6 one) must be public: not loopback, private
   (RFC 1918, ``fc00::/7``), link-local, CGNAT (``100.64.0.0/10``), multicast, unspecified, reserved,
   benchmarking (``198.18.0.0/15``), documentation (``192.0.2.0/24``, ``2001:db8::/32``...) or
   site-local (``fec0::/10``), per the IANA special-purpose registries (RFC 6890) that ``ipaddress``
   follows, with multicast, reserved and site-local added because ``ipaddress.is_global`` lets them pass.
3. Loopback, in its usual spellings (``127.0.0.0/8`` dotted, ``[::1]``, ``localhost``, ``*.localhost``
   from RFC 6761), is reported rather than refused here: ``WebPush(allow_local_endpoints=True)`` accepts
   it for local testing, and refuses it otherwise (``WebPush.prepare``).

Host names are not resolved: a name that resolves to a private address passes. Allowlist the push
services' hosts upstream if that matters to you.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote

from unipush._errors import ValidationError

__all__ = ["endpoint_host_is_loopback", "is_public_address", "parse_inet_aton"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 3490 §3.1: the label separators a host may be written with; UTS #46 maps them to "." as well.
_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# WHATWG URL "ends in a number": the last label is decimal digits or 0x + hex digits (possibly none).
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
# RFC 6761 §6.3 reserves localhost and *.localhost; the others are the loopback aliases Debian, Ubuntu
# and Fedora put in /etc/hosts, which the resolver answers before any DNS.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# RFC 7526 deprecated the 6to4 relay anycast prefix; ipaddress still calls it global.
_6TO4_RELAY = ipaddress.ip_network("192.88.99.0/24")
# RFC 6052 §2.1 well-known NAT64 prefix, and RFC 8215's local-use prefix (never global).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# RFC 4291 §2.5.5.1 IPv4-compatible (deprecated) and RFC 6145 §2.1 IPv4-translated (SIIT) addresses.
_COMPATIBLE = ipaddress.ip_network("::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def parse_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read as ``inet_aton(3)`` and the WHATWG IPv4 parser read it, or None if it is not IPv4.

    One to four parts separated by dots; each is decimal, octal with a leading ``0`` or hex with ``0x``
    (``0x`` alone is 0, as in the WHATWG parser); the last part fills the bytes the others left. An
    octal part with an 8 or a 9 in it is read as decimal: ``inet_aton`` refuses it, the WHATWG parser
    refuses the URL, and either way such a host is refused by the caller, which only needs to know
    that it is numeric.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if part.startswith("0x"):
            digits = part[2:]
            if digits and not all(c in "0123456789abcdef" for c in digits):
                return None
            numbers.append(int(digits, 16) if digits else 0)
        elif part.isascii() and part.isdigit():
            octal = len(part) > 1 and part.startswith("0") and not any(c in "89" for c in part)
            numbers.append(int(part, 8) if octal else int(part))
        else:
            return None
    *front, last = numbers
    if any(n > 255 for n in front) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(front):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and routes to, if it is one of the forms that do."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64 or address in _TRANSLATED:
        return low
    if address in _COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves, not IPv4 addresses
        return low
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether a connection to ``address`` leaves for the public internet (see the module docstring)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None or address in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    elif address in _6TO4_RELAY:
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _normalise(host: str) -> str:
    """The host as the resolver and the URL parsers will see it (see the module docstring)."""
    name = unquote(host, errors="strict") if "%" in host else host
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name).casefold().translate(_IDEOGRAPHIC_DOTS)
    return name.lower().rstrip(".")


def _refuse(host: str, reason: str) -> ValidationError:
    return ValidationError("endpoint", f"{reason} (host {host!r})")


def endpoint_host_is_loopback(host: str) -> bool:
    """Check the host of an endpoint (as ``urlsplit().hostname`` gives it, no brackets).

    Returns:
        True when the host is this machine in one of its usual spellings (``127.x.y.z``, ``::1``,
        ``localhost``, ``*.localhost``), which only ``WebPush(allow_local_endpoints=True)`` accepts;
        False for a public address or a host name.

    Raises:
        ValidationError: ``endpoint``: the host is a non-public address in any spelling, an IPv4
            address not written ``a.b.c.d``, or not a host name at all.
    """
    try:
        name = _normalise(host)
    except UnicodeDecodeError:
        raise _refuse(host, "must be a host name or an IP address, not percent-encoded bytes") from None
    if ":" in name:
        # An IPv6 literal (urlsplit only lets ":" into the host between brackets), or one spelled with
        # full-width colons, which the idna codec turns into a literal for getaddrinfo all the same.
        try:
            address6 = ipaddress.IPv6Address(name)
        except ValueError:
            raise _refuse(host, "must be a host name or an IP address") from None
        if address6.is_loopback and address6.scope_id is None:
            return True
        if not is_public_address(address6):
            inside = _embedded_ipv4(address6)
            where = f"{inside}, inside {address6}" if inside is not None else str(address6)
            raise _refuse(host, f"must not point at a non-public address ({where})")
        return False
    labels = name.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        address4 = parse_inet_aton(name)
        if address4 is None:
            raise _refuse(host, "is not a valid IPv4 address")
        canonical = host == str(address4)
        if canonical and address4.is_loopback:
            return True
        if not is_public_address(address4):
            written = "" if canonical else f", written {host!r}"
            raise ValidationError("endpoint", f"must not point at a non-public address ({address4}{written})")
        if not canonical:
            raise _refuse(host, f"must write its IPv4 address as four decimal numbers ({address4})")
        return False
    if not all(label and all(c.isalnum() or c in "-_" for c in label) for label in labels):
        raise _refuse(host, "must be a host name or an IP address")
    return name in _LOOPBACK_NAMES or name.endswith(".localhost")
