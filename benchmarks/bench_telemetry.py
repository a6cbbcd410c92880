"""What OpenTelemetry instrumentation costs per notification (docs/monitoring.md, issue 12).

    python benchmarks/bench_telemetry.py [--n 20000] [--repeat 5] [--concurrency 100] [--provider apns]

Every row sends ``--n`` notifications with ``PushClient.send_many`` to the local sandbox, after 500
warm-up sends, in a fresh process that reports its own CPU (``time.process_time()``: all its threads,
the client's event loop thread included; the sandbox runs in this driver process and is not counted):

* ``reference``: this tree's ``src/`` with every telemetry hook line removed (an AST rewrite of a copy:
  ``_telemetry.x(...)`` statements become ``pass``, ``_telemetry.begin(...)`` becomes ``None``,
  ``_telemetry.unsent(r)`` becomes ``r``), OpenTelemetry not importable: unipush as if never instrumented;
* ``absent``: this tree, OpenTelemetry not importable (a meta-path blocker): the cost with no extra;
* ``api``: this tree, ``opentelemetry-api`` importable but no SDK configured (the API's no-op);
* ``metrics``: this tree, the SDK's ``MeterProvider`` with an in-memory metric reader, no tracer provider;
* ``sdk``: this tree, the SDK configured with an in-memory metric reader and a ``SimpleSpanProcessor``
  into an in-memory span exporter, every span sampled (the SDK's default sampler) and exported;
* ``sampled``: as ``sdk`` with a ``TraceIdRatioBased(0.1)`` sampler, as a busy service would run.

The rows run interleaved ``--repeat`` times (reference, absent, api, ..., reference, ...) and each
row reports its median against the reference row's of the same run, and the median of its ratios to
the reference run of the same round ("paired"). The budget of issue 12: ``absent`` within 1 %, the SDK
within 10 % (docs/monitoring.md quotes the figures). Needs the SDK installed (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("reference", "absent", "api", "metrics", "sdk", "sampled")
WARMUP = 500

BLOCKER = """
import sys
class _NoOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(name + " is blocked")
        return None
sys.meta_path.insert(0, _NoOpenTelemetry())
"""


class _StripTelemetry(ast.NodeTransformer):
    """Removes every call into ``unipush._telemetry`` (the hook lines), keeping the code around them."""

    @staticmethod
    def _is_hook(node: ast.AST) -> bool:
        if isinstance(node, ast.Await):
            node = node.value
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "_telemetry"
        )

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        return ast.Pass() if self._is_hook(node.value) else self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if self._is_hook(node):
            assert isinstance(node.func, ast.Attribute)
            return self.visit(node.args[0]) if node.func.attr == "unsent" else ast.Constant(None)
        return self.generic_visit(node)


def reference_tree(into: Path) -> Path:
    """A copy of ``src/`` without the telemetry hook lines; returns the directory to put on ``sys.path``."""
    target = into / "src"
    shutil.copytree(ROOT / "src", target)
    removed = 0
    for path in target.rglob("*.py"):
        text = path.read_text()
        if "_telemetry." not in text or path.name == "_telemetry.py":
            continue
        tree = ast.parse(text)
        before = text.count("_telemetry.")
        stripped = ast.unparse(ast.fix_missing_locations(_StripTelemetry().visit(tree)))
        removed += before - stripped.count("_telemetry.")
        path.write_text(stripped + "\n")
    if removed == 0:
        raise SystemExit("found no telemetry hook to remove: is this the instrumented tree?")
    return target


# -- one case, in its own process -------------------------------------------------------------------


def run_case(mode: str, info: dict[str, Any], n: int, concurrency: int, provider: str) -> dict[str, Any]:
    import time

    if mode in ("metrics", "sdk", "sampled"):
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    if mode in ("sdk", "sampled"):
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, TraceIdRatioBased

        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider(sampler=TraceIdRatioBased(0.1) if mode == "sampled" else ALWAYS_ON)
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)

    import ssl

    from unipush import Notification, PushClient
    from unipush.apns import APNs, ApnsDevice
    from unipush.fcm import FCM, FcmDevice

    context = ssl.create_default_context(cafile=info["ca_path"])
    if provider == "apns":
        client = PushClient(
            apns=APNs(
                key=Path(info["apns_key_path"]),
                key_id=info["apns_key_id"],
                team_id=info["apns_team_id"],
                topic=info["apns_topic"],
                environment="sandbox",
                base_url=info["apns_url"],
            ),
            verify=context,
            concurrency=concurrency,
        )
        targets: list[Any] = [ApnsDevice(f"{i:064x}") for i in range(n)]
    else:
        client = PushClient(
            fcm=FCM(service_account=Path(info["fcm_service_account_path"]), base_url=info["fcm_url"]),
            verify=context,
            concurrency=concurrency,
        )
        targets = [FcmDevice(f"bench-{i:08d}:" + "x" * 140) for i in range(n)]
    notification = Notification(title="Back in stock", body="The blue one")
    with client:
        warm = client.send_many(notification, targets[:WARMUP])
        assert all(r.ok for r in warm), [r for r in warm if not r.ok][:1]
        start = time.process_time()
        batch = client.send_many(notification, targets)
        cpu = time.process_time() - start
    delivered = sum(r.ok for r in batch)
    loaded = sorted({m.split(".")[0] for m in sys.modules if m.startswith("opentelemetry")})
    facts: dict[str, Any] = {"mode": mode, "cpu_us": cpu / n * 1e6, "delivered": delivered, "otel": loaded}
    if mode in ("sdk", "sampled"):
        facts["spans"] = len(exporter.get_finished_spans())
    if mode in ("metrics", "sdk", "sampled"):
        data = reader.get_metrics_data()
        facts["series"] = (
            sum(len(m.data.data_points) for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics)
            if data
            else 0
        )
    return facts


# -- the driver -----------------------------------------------------------------------------------


def case_process(mode: str, info_path: Path, args: argparse.Namespace, reference_src: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(reference_src if mode == "reference" else ROOT / "src")
    code = (BLOCKER if mode in ("reference", "absent") else "") + (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "from bench_telemetry import run_case\n"
        f"info = json.loads(open({str(info_path)!r}).read())\n"
        f"print(json.dumps(run_case({mode!r}, info, {args.n}, {args.concurrency}, {args.provider!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="notifications per timed run")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs per row (the median is shown)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--provider", choices=("apns", "fcm"), default="apns")
    parser.add_argument("--json", type=Path, help="also write every run as JSON")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from unipush.sandbox import Sandbox

    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as scratch, Sandbox() as sandbox:
        sandbox.apns.token_update_interval = 0  # every case process signs its own provider token
        stop = threading.Event()

        def clear_inbox() -> None:  # the inbox would otherwise keep every delivery of the run
            while not stop.wait(0.5):
                sandbox.inbox.clear()

        cleaner = threading.Thread(target=clear_inbox, daemon=True)
        cleaner.start()
        info_path = Path(scratch) / "sandbox.json"
        info_path.write_text(json.dumps(sandbox.info()))
        reference_src = reference_tree(Path(scratch))
        try:
            for round_ in range(args.repeat):
                for mode in MODES:
                    facts = case_process(mode, info_path, args, reference_src)
                    assert facts["delivered"] == args.n, facts
                    runs[mode].append(facts)
                    if args.json is not None:  # after every run: a run cut short still leaves its data
                        args.json.write_text(json.dumps({"n": args.n, "runs": runs}, indent=2))
                    print(f"  run {round_ + 1}/{args.repeat} {mode:9} {facts['cpu_us']:7.2f} µs", file=sys.stderr)
        finally:
            stop.set()
            cleaner.join()

    medians = {mode: statistics.median(r["cpu_us"] for r in runs[mode]) for mode in MODES}
    base = medians["reference"]
    print(
        f"{args.provider}, {args.n:,} notifications per run, {args.concurrency} in flight, "
        f"median of {args.repeat} interleaved runs (client CPU per notification)"
    )
    print(f"{'row':10} {'µs/notification':>16} {'vs reference':>13} {'paired':>9}  OpenTelemetry imported")
    for mode in MODES:
        loaded = ",".join(runs[mode][-1]["otel"]) or "no"
        delta = (medians[mode] / base - 1) * 100
        # The median of the ratios to the reference run of the same round: robust to a machine whose
        # load drifts during the run.
        ratios = [r["cpu_us"] / ref["cpu_us"] for r, ref in zip(runs[mode], runs["reference"], strict=True)]
        paired = (statistics.median(ratios) - 1) * 100
        shown, pair = ("—", "—") if mode == "reference" else (f"{delta:+.1f} %", f"{paired:+.1f} %")
        print(f"{mode:10} {medians[mode]:16.2f} {shown:>13} {pair:>9}  {loaded}")
    spread = {m: f"{min(r['cpu_us'] for r in runs[m]):.2f}–{max(r['cpu_us'] for r in runs[m]):.2f}" for m in MODES}
    print("range per row (µs): " + ", ".join(f"{m} {s}" for m, s in spread.items()))
    print(f"spans exported per run: sdk {runs['sdk'][-1]['spans']:,}, sampled {runs['sampled'][-1]['spans']:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
