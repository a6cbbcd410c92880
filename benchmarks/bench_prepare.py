"""Client-side CPU of rendering one notification per provider: target + ``prepare`` (no network).

    python benchmarks/bench_prepare.py [--n 4000] [--repeat 5] [--profile fcm]

What a send costs before the engine sees it: building the target object from its token (as an
application does per row it reads), ``provider.prepare(notification, target, now=...)`` (the encoder,
the JSON body, the cached credential), measured with ``time.process_time()`` over ``--n`` targets and
reported as the median of ``--repeat`` runs, in microseconds per notification. The notification and
the tokens are those of ``bench_send.py``; the providers are built locally from throwaway keys, so
nothing is fetched (FCM's OAuth token is attached at send time by ``authorize`` and is not part of
this). Web Push is shown twice: whole, and without its encryption (``encrypt`` timed alone and
subtracted), since encryption is inherent to every message.

``--profile PROVIDER`` prints the cProfile of one run of that provider instead (the top 25 by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import secrets
import statistics
import sys
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from unipush import Notification, Target


def notification() -> Notification:
    """The notification ``bench_send.py`` sends: a typical alert with a deep link and a badge."""
    return Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="https://shop.example/o/1234",
        badge=1,
        sound="default",
        ttl=3600,
    )


def apns_tokens(count: int) -> Iterator[str]:
    """Distinct 64-hex-digit device tokens."""
    prefix = secrets.token_hex(24)
    for i in range(count):
        yield f"{prefix}{i:016x}"


def fcm_tokens(count: int) -> Iterator[str]:
    """Distinct ~160-character registration tokens, shaped like real ones."""
    prefix = secrets.token_urlsafe(16)[:22] + ":APA91b" + secrets.token_urlsafe(96)[:120]
    for i in range(count):
        yield f"{prefix}{i:012d}"


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def subscriptions(count: int) -> Iterator[dict[str, Any]]:
    """Web Push subscriptions with real P-256 keys (16 distinct keys, cycled)."""
    keys = []
    for _ in range(16):
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
        raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        keys.append({"p256dh": b64(raw), "auth": b64(secrets.token_bytes(16))})
    for i in range(count):
        yield {"endpoint": f"https://fcm.googleapis.com/fcm/send/bench-{i}", "keys": keys[i % len(keys)]}


def providers() -> dict[str, Any]:
    """APNs (token auth), FCM (a service account) and Web Push (VAPID), from throwaway keys."""
    from unipush import FCM, APNs, WebPush

    ec_key = ec.generate_private_key(ec.SECP256R1())
    p8 = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = {
        "type": "service_account",
        "project_id": "bench-project",
        "private_key_id": "0" * 40,
        "private_key": rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "client_email": "bench@bench-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return {
        "apns": APNs(key=p8, key_id="ABC123DEFG", team_id="DEF123GHIJ", topic="com.example.shop"),
        "fcm": FCM(service_account=account),
        "webpush": WebPush(vapid_private_key=p8, subject="mailto:bench@example.com"),
    }


def targets_of(provider: str, n: int) -> tuple[Callable[[Any], Target], list[Any]]:
    """How to build one target, and the raw values (tokens, subscription dicts) to build them from."""
    from unipush import ApnsDevice, FcmDevice, WebPushSubscription

    if provider == "apns":
        return ApnsDevice, list(apns_tokens(n))
    if provider == "fcm":
        return FcmDevice, list(fcm_tokens(n))
    return WebPushSubscription.from_dict, list(subscriptions(n))


def one_run(provider: Any, make: Callable[[Any], Target], raw: list[Any], note: Notification) -> float:
    """CPU seconds for building and preparing every target once."""
    now = datetime.now(timezone.utc)
    prepare = provider.prepare
    start = time.process_time()
    for value in raw:
        prepare(note, make(value), now=now)
    return time.process_time() - start


def encryption_seconds(raw: list[Any], note: Notification, provider: Any) -> float:
    """CPU seconds of Web Push encryption alone, for the same plaintext and subscriptions."""
    from unipush import WebPushSubscription
    from unipush.webpush import encrypt

    subs = [WebPushSubscription.from_dict(value) for value in raw]
    plaintext = json.dumps(provider.prepare(note, subs[0], now=datetime.now(timezone.utc)).payload).encode()
    start = time.process_time()
    for sub in subs:
        encrypt(plaintext, sub.p256dh_bytes, sub.auth_bytes)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="targets per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per provider (the median is reported)")
    parser.add_argument("--profile", choices=("apns", "fcm", "webpush"), help="cProfile one provider's run")
    args = parser.parse_args(argv)

    configs = providers()
    note = notification()
    cases = {name: targets_of(name, args.n) for name in configs}
    for name, (make, raw) in cases.items():  # warm-up: first-call costs, the cached JWTs
        one_run(configs[name], make, raw[:200], note)

    if args.profile:
        make, raw = cases[args.profile]
        profile = cProfile.Profile()
        profile.runcall(one_run, configs[args.profile], make, raw, note)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return 0

    runs: dict[str, list[float]] = {name: [] for name in configs}
    encryption: list[float] = []
    for _ in range(args.repeat):  # interleaved, so a noisy neighbour hits every provider alike
        for name, (make, raw) in cases.items():
            runs[name].append(one_run(configs[name], make, raw, note) / args.n * 1e6)
        encryption.append(encryption_seconds(cases["webpush"][1], note, configs["webpush"]) / args.n * 1e6)

    apns = statistics.median(runs["apns"])
    python = sys.version.split()[0]
    print(f"target + prepare, µs CPU per notification (median of {args.repeat} x {args.n}, Python {python})")
    print(f"{'provider':<28}{'µs':>8}{'vs APNs':>10}")
    for name in configs:
        median = statistics.median(runs[name])
        print(f"{name:<28}{median:>8.1f}{median / apns:>9.2f}x")
    crypt = statistics.median(encryption)
    web = statistics.median(runs["webpush"])
    print(f"{'webpush without encryption':<28}{web - crypt:>8.1f}{(web - crypt) / apns:>9.2f}x")
    print(f"{'(webpush encryption alone)':<28}{crypt:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
