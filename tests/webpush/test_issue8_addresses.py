"""Issue 8, item 3: the private-address guard holds for every spelling of an address.

An address is rendered in each spelling that some layer below unipush reads as that address
(``inet_aton`` forms, IDNA/UTS #46 full-width digits and ideographic dots, percent-encoding, trailing
dots, IPv4 inside IPv6) and put in an endpoint. A non-public address is refused in every spelling; a
public one is accepted only as a browser writes it (four decimal numbers, or an IPv6 literal), and
refused in every other spelling, consistently (docs/webpush.md, "Which endpoints are accepted").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.webpush.conftest import make_subscriber
from unipush import Notification, ValidationError
from unipush.webpush import WebPush, WebPushSubscription, generate_vapid_keys

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
NOTIFICATION = Notification(title="Hi", deep_link="https://shop.example/")
_KEY = generate_vapid_keys().private_key_pem
DEFAULT = WebPush(vapid_private_key=_KEY, subject="mailto:ops@example.com")
LOCAL = WebPush(vapid_private_key=_KEY, subject="mailto:ops@example.com", allow_local_endpoints=True)

# Every IANA special-purpose IPv4 block that is not globally reachable, and multicast (RFC 6890, RFC 5771).
NON_PUBLIC_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/29",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
NON_PUBLIC_V6 = [
    ipaddress.IPv6Network(n)
    for n in ("::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32", "2001::/32")
]
PUBLIC_V4 = ["8.8.8.8", "1.1.1.1", "142.250.185.74", "17.57.146.20", "9.9.9.9", "52.95.110.1"]

FULL_WIDTH = str.maketrans("0123456789abcdefx", "０１２３４５６７８９ａｂｃｄｅｆｘ")


def _addresses_in(networks: list[ipaddress.IPv4Network]) -> st.SearchStrategy[ipaddress.IPv4Address]:
    return st.sampled_from(networks).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)
    )


def _parts(address: ipaddress.IPv4Address) -> list[int]:
    return list(address.packed)


def _v4_spellings(address: ipaddress.IPv4Address) -> dict[str, str]:
    """Host spellings that glibc's inet_aton, the WHATWG URL parser or IDNA read as ``address``."""
    a, b, c, d = _parts(address)
    value = int(address)
    dotted = f"{a}.{b}.{c}.{d}"
    spellings = {
        "dotted": dotted,
        "decimal": str(value),
        "hex": f"0x{value:x}",
        "hex upper": f"0X{value:X}",
        "hex padded": f"0x{value:010x}",
        "octal": f"0{value:o}",
        "hex parts": ".".join(f"0x{p:x}" for p in (a, b, c, d)),
        "octal parts": ".".join(f"0{p:o}" for p in (a, b, c, d)),
        "three parts": f"{a}.{b}.{(c << 8) | d}",
        "two parts": f"{a}.{(b << 16) | (c << 8) | d}",
        "mixed parts": f"0x{a:x}.0{b:o}.{(c << 8) | d}",
        "leading zeros": f"{a:03d}.{b:03d}.{c:03d}.{d:03d}",
        "trailing dot": dotted + ".",
        "full-width digits": dotted.translate(FULL_WIDTH),
        "full-width hex": f"0x{value:x}".translate(FULL_WIDTH),
        "ideographic dots": dotted.replace(".", "\u3002"),
        "full-width dots": dotted.replace(".", "\uff0e"),
        "halfwidth ideographic dots": dotted.replace(".", "\uff61"),
        "percent-encoded": "".join(f"%{ord(ch):02x}" for ch in dotted),
        "percent-encoded dot": dotted.replace(".", "%2e"),
        "mapped": f"[::ffff:{dotted}]",
        "mapped hex": f"[::ffff:{value >> 16:x}:{value & 0xFFFF:x}]",
        "mapped long": f"[0:0:0:0:0:ffff:{dotted}]",
        "compatible": f"[::{dotted}]",
        "translated": f"[::ffff:0:{dotted}]",
        "nat64": f"[64:ff9b::{dotted}]",
        "6to4": f"[2002:{value >> 16:x}:{value & 0xFFFF:x}::1]",
    }
    # A spelling that happens to be the dotted quad itself (``leading zeros`` of 127.197.250.100) is not another one.
    return {name: host for name, host in spellings.items() if name == "dotted" or host != dotted}


def _endpoint(host: str, scheme: str = "https") -> str:
    return f"{scheme}://{host}/push/dGVzdA"


def _refusal(endpoint: str, provider: WebPush) -> ValidationError | None:
    """The ValidationError that stops a send to ``endpoint`` (at construction or at prepare), or None."""
    try:
        subscription = make_subscriber(endpoint)[2]
        provider.prepare(NOTIFICATION, subscription, now=NOW)
    except ValidationError as exc:
        return exc
    return None


@given(_addresses_in(NON_PUBLIC_V4), st.sampled_from(["https", "http"]))
def test_a_non_public_ipv4_address_is_refused_in_every_spelling(address: ipaddress.IPv4Address, scheme: str) -> None:
    for name, host in _v4_spellings(address).items():
        for provider in (DEFAULT, LOCAL):
            # The opt-in admits loopback written plainly: 127.x.y.z dotted, or an IPv6 literal that *is* ::1
            # (the "compatible" spelling of 0.0.0.1, [::0.0.0.1], is the IPv6 loopback address itself).
            is_v6_loopback = name == "compatible" and ipaddress.IPv6Address(host.strip("[]")).is_loopback
            loopback_allowed = provider is LOCAL and ((address.is_loopback and name == "dotted") or is_v6_loopback)
            refusal = _refusal(_endpoint(host, scheme), provider)
            if loopback_allowed:
                assert refusal is None, (name, host)
            else:
                assert refusal is not None, f"{name} {host!r} ({address}) was accepted"
                assert refusal.field == "endpoint", refusal


@given(st.sampled_from(NON_PUBLIC_V6).flatmap(lambda n: st.integers(0, n.num_addresses - 1).map(lambda i: n[i])))
def test_a_non_public_ipv6_address_is_refused(address: ipaddress.IPv6Address) -> None:
    for host in (f"[{address}]", f"[{address.exploded}]", f"[{str(address).upper()}]"):
        for provider in (DEFAULT, LOCAL):
            refusal = _refusal(_endpoint(host), provider)
            if provider is LOCAL and address.is_loopback:
                assert refusal is None
            else:
                assert refusal is not None, host
                assert refusal.field == "endpoint", host


@given(st.sampled_from(PUBLIC_V4).map(ipaddress.IPv4Address))
def test_a_public_ipv4_address_is_accepted_as_a_browser_writes_it_and_refused_otherwise(
    address: ipaddress.IPv4Address,
) -> None:
    # IPv6 literals are checked by the address they carry: a public one is a public endpoint.
    accepted = {"dotted", "mapped", "mapped hex", "mapped long", "compatible", "translated", "nat64", "6to4"}
    for name, host in _v4_spellings(address).items():
        refusal = _refusal(_endpoint(host), DEFAULT)
        if name in accepted:
            assert refusal is None, (name, host, refusal)
        else:
            assert refusal is not None, f"{name} {host!r} was accepted"
            assert "four decimal numbers" in refusal.message, refusal


@pytest.mark.parametrize(
    ("endpoint", "words"),
    [
        ("https://0xa9fea9fe/latest/meta-data", "169.254.169.254"),
        ("https://2852039166/", "169.254.169.254"),
        ("https://10.1/", "10.0.0.1"),
        ("https://0/", "0.0.0.0"),
        ("https://１０.０.０.１/", "10.0.0.1"),
        ("https://10。0。0。1/", "10.0.0.1"),
        ("https://[::ffff:10.0.0.1]/", "10.0.0.1"),
        ("https://[::ffff:a00:1]/", "10.0.0.1"),
        ("https://[64:ff9b::a00:1]/", "10.0.0.1"),
        ("https://[2002:a00:1::]/", "10.0.0.1"),
        ("https://[::ffff:127.0.0.1]/", "127.0.0.1"),
        ("https://127.1/", "127.0.0.1"),
        ("https://100.64.0.1/", "100.64.0.1"),
        ("https://224.0.0.251/", "224.0.0.251"),
        ("https://[ff02::1]/", "ff02::1"),
        ("https://[fe80::1%25eth0]/", "non-public"),
        ("https://[fec0::1]/", "fec0::1"),
        ("https://192.168.0.1./", "192.168.0.1"),
    ],
)
def test_the_examples_from_the_issue_are_refused_at_construction(endpoint: str, words: str) -> None:
    with pytest.raises(ValidationError, match="non-public") as info:
        make_subscriber(endpoint)
    assert info.value.field == "endpoint"
    assert words in str(info.value)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com@10.0.0.1/push",  # userinfo: the real host is after the @
        "https://user:pw@fcm.googleapis.com/push",
        "https://@fcm.googleapis.com/push",
        "https://10.0.0.1\\.fcm.googleapis.com/push",  # a backslash ends the host for browsers
        "https://10.0.0.1\\@fcm.googleapis.com/push",
        "https://fcm%2egoogleapis%2ecom%2f@10.0.0.1/",
        "https://%ff/",  # not UTF-8 once decoded
        "https://1.2.3.4.5/",  # numeric, and not an IPv4 address at all
        "https://example.123/",
        "https://0x1g.0.0.1/",
        "https://［::1］/",  # full-width brackets
        "https://：：１/",  # full-width colons: idna makes "::1" of it
    ],
)
def test_host_tricks_are_refused(endpoint: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_subscriber(endpoint)
    assert info.value.field == "endpoint"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/QGx",
        "https://wns2-par02p.notify.windows.com/w/?token=abc",
        "https://push.example.net./s/1",  # a fully qualified name
        "https://bücher.example/s/1",  # an IDN host name (not an address)
        "https://8.8.8.8:8443/s/1",
        "https://[2001:4860:4860::8888]/s/1",
    ],
)
def test_public_endpoints_are_accepted(endpoint: str) -> None:
    subscription = make_subscriber(endpoint)[2]
    assert not subscription.is_loopback
    assert DEFAULT.prepare(NOTIFICATION, subscription, now=NOW).url == endpoint


LOOPBACK = [
    "https://localhost/s/1",
    "http://localhost:8080/s/1",
    "https://LOCALHOST./s/1",
    "http://push.localhost/s/1",
    "https://ｌｏｃａｌｈｏｓｔ/s/1",
    "http://127.0.0.1:8000/s/1",
    "https://127.3.4.5/s/1",
    "http://[::1]:8000/s/1",
    "https://[0:0:0:0:0:0:0:1]/s/1",
    "http://ip6-localhost/s/1",
]


@pytest.mark.parametrize("endpoint", LOOPBACK)
def test_loopback_is_refused_by_default_and_sent_to_with_the_opt_in(endpoint: str) -> None:
    subscription = make_subscriber(endpoint)[2]
    assert subscription.is_loopback
    with pytest.raises(ValidationError, match=r"allow_local_endpoints=True") as info:
        DEFAULT.prepare(NOTIFICATION, subscription, now=NOW)
    assert info.value.field == "endpoint"
    assert LOCAL.prepare(NOTIFICATION, subscription, now=NOW).url == endpoint


@pytest.mark.parametrize("endpoint", ["http://fcm.googleapis.com/s", "http://10.0.0.1/s", "http://8.8.8.8/s"])
def test_plain_http_is_refused_off_this_machine(endpoint: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_subscriber(endpoint)
    assert info.value.field == "endpoint"


@pytest.mark.parametrize(
    "check",
    [
        lambda: WebPush(vapid_private_key=_KEY, subject="mailto:ops@example.com", allow_local_endpoints="yes"),  # type: ignore[arg-type]
        lambda: WebPush(vapid_private_key=_KEY, subject="mailto:ops@example.com", allow_local_endpoints=1),  # type: ignore[arg-type]
    ],
)
def test_allow_local_endpoints_must_be_a_bool(check: Callable[[], WebPush]) -> None:
    from unipush import ConfigurationError

    with pytest.raises(ConfigurationError, match="allow_local_endpoints"):
        check()


def test_from_dict_refuses_the_same_spellings() -> None:
    _, _, good = make_subscriber()
    document = good.to_dict()
    document["endpoint"] = "https://0x7f000001/push"
    # The versioned form (with "v") names the key path; the browser's own JSON names the bare field.
    with pytest.raises(ValidationError, match="non-public") as info:
        WebPushSubscription.from_dict(document)
    assert info.value.field == "target.endpoint"
    browser_form = {key: document[key] for key in ("endpoint", "keys", "expirationTime")}
    with pytest.raises(ValidationError, match="non-public") as info:
        WebPushSubscription.from_dict(browser_form)
    assert info.value.field == "endpoint"


def test_repr_and_property_show_the_opt_in() -> None:
    assert LOCAL.allow_local_endpoints
    assert not DEFAULT.allow_local_endpoints
    assert "allow_local_endpoints=True" in repr(LOCAL)
    assert "allow_local_endpoints" not in repr(DEFAULT)
