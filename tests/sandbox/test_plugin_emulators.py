"""``Sandbox(emulators=[...])``: a plugin's emulator served beside APNs, FCM and Web Push.

The emulator here is the smallest ``EmulatorBase`` subclass: it records each ``POST /notes/<id>`` in the
sandbox's inbox. Requests go over real TLS with httpx (HTTP/2 and HTTP/1.1).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import unipush.sandbox
from unipush.sandbox import (
    EmulatorBase,
    EmulatorContext,
    Fault,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    json_response,
)


class NotesEmulator(EmulatorBase):
    """``POST /notes/<id>`` with a JSON body: recorded under ``<id>``, answered ``201 {"id": ...}``."""

    name = "notes"
    http1 = True

    def __init__(self) -> None:
        self.attached: list[EmulatorContext] = []

    def attach(self, context: EmulatorContext) -> None:
        super().attach(context)
        self.attached.append(context)

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        target = self.target_of(request)
        if request.method != "POST" or target is None:
            return json_response(404, {"error": "no such note"})
        message_id = f"{self.base_url}/notes/{target}"
        self.record(target=target, payload=json.loads(request.body), raw=request.body, message_id=message_id)
        return json_response(201, {"id": message_id})

    def target_of(self, request: SandboxRequest) -> str | None:
        if not request.path.startswith("/notes/"):
            return None
        return request.path.removeprefix("/notes/") or None

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        status = fault.status if fault.kind == "status" else 410
        return json_response(status, {"error": fault.reason or fault.kind})


@pytest.fixture(scope="module")
def notes() -> NotesEmulator:
    return NotesEmulator()


@pytest.fixture(scope="module")
def sandbox(notes: NotesEmulator) -> Iterator[Sandbox]:
    with Sandbox(emulators=[notes]) as running:
        yield running


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    sandbox.inbox.clear()
    sandbox.faults.clear()
    with httpx.Client(http2=True, verify=sandbox.ssl_context()) as client:
        yield client


def test_the_plugin_emulator_has_its_own_origin_and_records_in_the_inbox(
    sandbox: Sandbox, notes: NotesEmulator, http: httpx.Client
) -> None:
    url = sandbox.url("notes")
    assert url.startswith("https://127.0.0.1:")
    assert url not in (sandbox.apns_url, sandbox.fcm_url, sandbox.webpush_url)
    answer = http.post(f"{url}/notes/n1", json={"text": "hello"})
    assert answer.status_code == 201
    assert answer.http_version == "HTTP/2"
    [delivery] = sandbox.inbox.all()
    assert (delivery.provider, delivery.target, delivery.payload) == ("notes", "n1", {"text": "hello"})
    assert delivery.message_id == answer.json()["id"] == f"{url}/notes/n1"
    assert sandbox.emulators["notes"] is notes
    assert sandbox.servers["notes"].stats.responses >= 1
    assert notes.attached[-1].name == "notes"
    assert notes.attached[-1].directory == sandbox.directory
    assert sandbox.info()["notes_url"] == url
    assert "notes='https://127.0.0.1:" in repr(sandbox)


def test_http1_is_served_when_the_emulator_says_so(sandbox: Sandbox, http: httpx.Client) -> None:
    with httpx.Client(http1=True, http2=False, verify=sandbox.ssl_context()) as http1:
        answer = http1.post(sandbox.url("notes") + "/notes/n2", json={})
    assert answer.status_code == 201
    assert answer.http_version == "HTTP/1.1"


def test_the_sandboxs_faults_apply_to_the_plugin_emulator(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.fail(503, provider="notes", target="n3", reason="down")
    sandbox.fail(503, provider="apns")  # another service's fault does not reach it
    refused = http.post(sandbox.url("notes") + "/notes/n3", json={})
    assert (refused.status_code, refused.json()) == (503, {"error": "down"})
    assert http.post(sandbox.url("notes") + "/notes/n3", json={}).status_code == 201
    sandbox.invalidate("n4", provider="notes")
    assert http.post(sandbox.url("notes") + "/notes/n4", json={}).status_code == 410
    assert http.post(sandbox.url("notes") + "/notes/n4", json={}).status_code == 410  # for good
    assert [d.target for d in sandbox.inbox.all()] == ["n3"]
    sandbox.goaway_after(1, "notes")
    sandbox.set_max_concurrent_streams(7, "notes")
    assert sandbox.faults.goaway_after == {"notes": 1}
    assert sandbox.faults.max_concurrent_streams == {"notes": 7}


def test_a_restart_attaches_the_emulator_again() -> None:
    notes = NotesEmulator()
    sandbox = Sandbox(emulators=[notes])
    for _ in range(2):
        with sandbox, httpx.Client(verify=sandbox.ssl_context()) as http:
            assert http.post(sandbox.url("notes") + "/notes/again", json={}).status_code == 201
    assert len(notes.attached) == 2
    assert len(sandbox.inbox.for_provider("notes")) == 2  # the inbox is kept across stop/start


@pytest.mark.parametrize("name", ["", "apns", "webpush", "twice"])
def test_emulator_names_must_be_new_and_distinct(name: str) -> None:
    first, second = NotesEmulator(), NotesEmulator()
    first.name = name
    second.name = "twice"
    with pytest.raises(ValueError, match="emulator name"):
        Sandbox(emulators=[first, second])


def test_ports_and_providers_may_name_a_plugin_service() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        Sandbox(ports={"notes": 8443})
    sandbox = Sandbox(emulators=[NotesEmulator()], ports={"notes": 0})
    with pytest.raises(ValueError, match="unknown provider"):
        sandbox.fail(500, provider="nope")
    sandbox.fail(500, provider="notes")  # known: no error


def test_url_of_an_unknown_service_is_a_key_error(sandbox: Sandbox) -> None:
    assert sandbox.url("apns") == sandbox.apns_url
    with pytest.raises(KeyError, match="no service 'nope'"):
        sandbox.url("nope")


def test_one_loop_thread_class_in_the_package() -> None:
    # The sandbox runs its servers on unipush._loop_thread.LoopThread, as PushClient runs its engine:
    # no module of the sandbox starts a thread of its own.
    root = Path(unipush.sandbox.__file__).parent
    started = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in ("Thread", "new_event_loop")
    ]
    assert started == []
