"""A FastAPI app that notifies a customer's devices when their order ships.

One ``AsyncPushClient`` lives as long as the app (FastAPI's ``lifespan``), so every request reuses the same
HTTP/2 connections. Devices register through the API: ``POST /users/{user_id}/devices`` with an APNs token, an
FCM token or a browser's ``PushSubscription.toJSON()``. Shipping an order (``POST /orders/{order_id}/ship``)
sends one notification to all of the customer's devices, and dead tokens are removed on the spot by
``on_invalid_token``.

Credentials come from the environment (any of the three providers):

* APNs: ``APNS_KEY_FILE``, ``APNS_KEY_ID``, ``APNS_TEAM_ID``, ``APNS_TOPIC``, optionally ``APNS_ENVIRONMENT``;
* FCM: ``FCM_SERVICE_ACCOUNT`` (the service-account key file);
* Web Push: ``VAPID_PRIVATE_KEY`` (a PEM file or base64url key) and ``VAPID_SUBJECT`` (``mailto:...``).

With none set, the app starts unipush's local sandbox and sends there. Serve it with
``uvicorn examples.fastapi_app:app``, or run ``python examples/fastapi_app.py`` to drive it in-process
against the sandbox (through ``httpx.ASGITransport``, no network server) and print what happened.
Needs ``pip install "unipush[examples]"`` (FastAPI and uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from unipush import AsyncPushClient, Notification, SendResult, Target, ValidationError
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.sandbox import Sandbox
from unipush.webpush import WebPush, WebPushSubscription

# A real app keeps these in its database.
DEVICES: dict[str, list[Target]] = {}  # user id -> the user's devices
ORDERS: dict[str, str] = {"1234": "alice"}  # order id -> the customer's user id


def forget_device(result: SendResult) -> None:
    """``on_invalid_token``: the token or subscription is dead, so stop sending to it."""
    for devices in DEVICES.values():
        if result.target in devices:
            devices.remove(result.target)
            print(f"removed dead {result.provider} device {result.target.short()} ({result.reason})")


def providers_from_environment() -> dict[str, Any]:
    """Provider configs for the credentials found in the environment (empty when there are none)."""
    env = os.environ
    providers: dict[str, Any] = {}
    if env.get("APNS_KEY_FILE"):
        providers["apns"] = APNs(
            key=env["APNS_KEY_FILE"],
            key_id=env["APNS_KEY_ID"],
            team_id=env["APNS_TEAM_ID"],
            topic=env["APNS_TOPIC"],
            environment="sandbox" if env.get("APNS_ENVIRONMENT") == "sandbox" else "production",
        )
    if env.get("FCM_SERVICE_ACCOUNT"):
        providers["fcm"] = FCM(service_account=env["FCM_SERVICE_ACCOUNT"])
    if env.get("VAPID_PRIVATE_KEY"):
        providers["webpush"] = WebPush(vapid_private_key=env["VAPID_PRIVATE_KEY"], subject=env["VAPID_SUBJECT"])
    return providers


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open one push client for the app's whole life (and a local sandbox when there are no credentials)."""
    async with contextlib.AsyncExitStack() as stack:
        providers = providers_from_environment()
        if providers:
            client = AsyncPushClient(**providers, on_invalid_token=forget_device)
        else:
            sandbox = await stack.enter_async_context(Sandbox())
            app.state.sandbox = sandbox
            client = sandbox.async_client(on_invalid_token=forget_device)
        app.state.push = await stack.enter_async_context(client)
        yield


app = FastAPI(title="shop", lifespan=lifespan)


class DeviceIn(BaseModel):
    """Exactly one of: an APNs device token, an FCM registration token, a Web Push subscription."""

    apns_token: str | None = None
    fcm_token: str | None = None
    subscription: dict[str, Any] | None = None


@app.get("/webpush/key")
async def webpush_key(request: Request) -> dict[str, str]:
    """The VAPID public key a page passes to ``pushManager.subscribe({applicationServerKey})``."""
    webpush = request.app.state.push.providers.get("webpush")
    if not isinstance(webpush, WebPush):
        raise HTTPException(404, "Web Push is not configured")
    return {"applicationServerKey": webpush.application_server_key}


@app.post("/users/{user_id}/devices", status_code=201)
async def register_device(user_id: str, device: DeviceIn) -> dict[str, str]:
    """Store a device the app (or the browser) registered for push."""
    target: Target
    try:
        if device.apns_token is not None:
            target = ApnsDevice(device.apns_token)
        elif device.fcm_token is not None:
            target = FcmDevice(device.fcm_token)
        elif device.subscription is not None:
            target = WebPushSubscription.from_dict(device.subscription)
        else:
            raise HTTPException(422, "give apns_token, fcm_token or subscription")
    except ValidationError as exc:  # a malformed token or subscription; the message names the field
        raise HTTPException(422, str(exc)) from None
    DEVICES.setdefault(user_id, []).append(target)
    return {"provider": target.provider, "device": target.short()}


@app.post("/orders/{order_id}/ship")
async def ship_order(order_id: str, request: Request) -> dict[str, Any]:
    """Mark the order shipped and notify every device of its customer."""
    user_id = ORDERS.get(order_id)
    if user_id is None:
        raise HTTPException(404, f"no order {order_id}")
    push: AsyncPushClient = request.app.state.push
    notification = Notification(
        title="Order shipped",
        body=f"#{order_id} is on its way",
        deep_link=f"https://shop.example/orders/{order_id}",
        collapse_key=f"order-{order_id}",
        data={"order_id": order_id},
    )
    batch = await push.send_many(notification, list(DEVICES.get(user_id, [])))
    return {
        "order": order_id,
        "delivered": len(batch.succeeded),
        "failed": len(batch.failed),
        "results": [
            {"provider": r.provider, "device": r.target.short(), "ok": r.ok, "status": r.status_code} for r in batch
        ],
    }


async def main() -> int:
    """Drive the app in-process against the sandbox, as a phone, an Android device and a browser would."""
    # What uvicorn does around the app: run its lifespan (the sandbox and the push client start here).
    async with app.router.lifespan_context(app):
        sandbox: Sandbox = app.state.sandbox
        dead = sandbox.apns_device()
        sandbox.invalidate(dead)  # a phone that uninstalled the app
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
            # The browser: fetch the VAPID key, subscribe with it, post subscription.toJSON() to the backend.
            key = (await http.get("/webpush/key")).json()["applicationServerKey"]
            registrations: list[dict[str, Any]] = [
                {"apns_token": sandbox.apns_device().token},
                {"fcm_token": sandbox.fcm_device().token},
                {"subscription": sandbox.subscribe(key).to_dict()},
                {"apns_token": dead.token},
            ]
            for registration in registrations:
                (await http.post("/users/alice/devices", json=registration)).raise_for_status()
            answer = await http.post("/orders/1234/ship")
        answer.raise_for_status()
        report = answer.json()
        print(f"POST /orders/1234/ship: {report['delivered']} delivered, {report['failed']} failed")
        for delivery in sandbox.inbox.all():
            print(f"  {delivery.provider:<8} device received: {json.dumps(delivery.payload)[:90]}…")
        print(f"alice has {len(DEVICES['alice'])} devices left")
    return 0 if report["delivered"] == 3 and report["failed"] == 1 and len(DEVICES["alice"]) == 3 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
