"""How ``unipush send --file --processes N`` scales with N, against the local sandbox (see benchmarks/README.md).

    python benchmarks/bench_processes.py [--n 40000] [--base 4000] [--processes 2] [--repeat 3]
                                         [--provider apns] [--concurrency 100] [--json results.json]

Each run is the real command, ``python -m unipush send --title ... --file targets.csv [--processes N]``,
in a fresh process (wrapped so that it reports ``os.times()`` when ``main()`` returns: its own CPU, and
its reaped children's, which are its worker processes). The sandbox runs in a process of its own
(``bench_send.py --_serve``), and its CPU is read from ``/proc``.

What is compared is **CPU seconds per notification**, not wall time: on a 2-core machine the sandbox,
pure Python too, needs about a core for what one sending process sends, so wall-clock notifications
per second are capped by it (the table shows them, and the sandbox's CPU, so you can see that).
Each figure is *marginal*: the same command on ``--n`` and on ``--base`` targets, and the difference
divided by ``n - base``, so process start-up, imports, TLS handshakes and the first token cancel out.

From those, the capacity of N processes when each has a core and the push service is not the
bottleneck: the parent (it reads the file, hands chunks out, counts results) is one serial stage, so
``rate_N = min(1 / parent, N / (parent + workers))`` per notification CPU, against ``1 / single`` for
the plain command. The scaling is ``rate_N / rate_1``.

Linux only (``/proc``, ``os.times`` of reaped children).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_send import SandboxProcess, apns_tokens, fcm_tokens, machine_busy_seconds, proc_cpu_seconds

# Runs unipush's main() and writes, to the file named by $BENCH_TIMES, the CPU seconds of this
# process and of its reaped children (the --processes workers: the pool joins them before main returns).
WRAPPER = """
import json, os, sys, time
from unipush.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
wall = time.perf_counter() - started
t = os.times()
with open(os.environ["BENCH_TIMES"], "w") as out:
    json.dump({"code": code, "wall": wall, "parent": t.user + t.system,
               "workers": t.children_user + t.children_system}, out)
raise SystemExit(code)
"""


@dataclass
class Run:
    """One command run: what it sent and what it cost."""

    processes: int
    n: int
    code: int
    wall_s: float
    parent_cpu_s: float
    workers_cpu_s: float
    sandbox_cpu_s: float
    others_cpu_s: float


def write_targets(path: Path, provider: str, count: int) -> None:
    """A CSV of ``count`` distinct, well-formed device tokens."""
    tokens = apns_tokens(count) if provider == "apns" else fcm_tokens(count)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["provider", "token"])
        for token in tokens:
            writer.writerow([provider, token])


def credential_flags(info: dict[str, Any], provider: str) -> list[str]:
    """``unipush send`` flags pointing ``provider`` at the sandbox."""
    if provider == "apns":
        return ["--apns-key", info["apns_key_path"], "--apns-key-id", info["apns_key_id"],
                "--apns-team-id", info["apns_team_id"], "--apns-topic", info["apns_topic"],
                "--apns-env", "sandbox", "--apns-url", info["apns_url"], "--ca", info["ca_path"]]  # fmt: skip
    return ["--fcm-service-account", info["fcm_service_account_path"], "--fcm-url", info["fcm_url"],
            "--ca", info["ca_path"]]  # fmt: skip


def run_once(sandbox: SandboxProcess, args: argparse.Namespace, targets: Path, n: int, processes: int) -> Run:
    """Run the command once on ``targets`` (``n`` rows) and measure it."""
    with tempfile.TemporaryDirectory() as scratch:
        times_path = Path(scratch) / "times.json"
        argv = [sys.executable, "-c", WRAPPER, "send", "--title", "Order shipped", "--body", "#1234 is on its way",
                "--link", "https://shop.example/o/1234", "--badge", "1", "--file", str(targets),
                "--concurrency", str(args.concurrency), *credential_flags(sandbox.info, args.provider)]  # fmt: skip
        if processes > 1:
            argv += ["--processes", str(processes)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNIPUSH_")}
        env["BENCH_TIMES"] = str(times_path)
        sandbox_before = proc_cpu_seconds(int(sandbox.info["pid"]))
        machine_before = machine_busy_seconds()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=scratch, check=False)
        sandbox_cpu = proc_cpu_seconds(int(sandbox.info["pid"])) - sandbox_before
        machine = machine_busy_seconds() - machine_before
        if done.returncode != 0:
            raise RuntimeError(f"unipush send failed ({done.returncode}): {done.stdout}{done.stderr}")
        expected = f"{n:,} targets in "
        if not done.stdout.startswith(expected) or f"{n:,} sent, 0 failed" not in done.stdout:
            raise RuntimeError(f"unexpected summary: {done.stdout}")
        times = json.loads(times_path.read_text())
    own = times["parent"] + times["workers"]
    return Run(
        processes=processes,
        n=n,
        code=times["code"],
        wall_s=times["wall"],
        parent_cpu_s=times["parent"],
        workers_cpu_s=times["workers"],
        sandbox_cpu_s=sandbox_cpu,
        others_cpu_s=max(0.0, machine - own - sandbox_cpu),
    )


@dataclass
class Marginal:
    """The cost of the ``n - base`` extra notifications of a large run over a small one."""

    processes: int
    wall_s: float
    parent_us: float
    workers_us: float
    sandbox_us: float
    others_percent: float

    @property
    def total_us(self) -> float:
        """CPU of every sending process, per notification."""
        return self.parent_us + self.workers_us

    def capacity(self) -> float:
        """Notifications per second with a core per process and a push service that keeps up."""
        if self.processes == 1:
            return 1e6 / self.total_us
        return min(1e6 / self.parent_us, self.processes * 1e6 / self.total_us)


def marginal(large: Run, small: Run) -> Marginal:
    """``large`` minus ``small``, per extra notification."""
    extra = large.n - small.n
    wall = large.wall_s - small.wall_s
    return Marginal(
        processes=large.processes,
        wall_s=wall,
        parent_us=(large.parent_cpu_s - small.parent_cpu_s) / extra * 1e6,
        workers_us=(large.workers_cpu_s - small.workers_cpu_s) / extra * 1e6,
        sandbox_us=(large.sandbox_cpu_s - small.sandbox_cpu_s) / extra * 1e6,
        others_percent=100 * (large.others_cpu_s - small.others_cpu_s) / (wall * (os.cpu_count() or 1)),
    )


def median_of(values: list[Marginal]) -> Marginal:
    """The run with the median total CPU per notification (a whole run, so its columns belong together)."""
    ordered = sorted(values, key=lambda m: m.total_us)
    return ordered[len(ordered) // 2]


def main() -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40_000, help="targets in the large run (default 40,000)")
    parser.add_argument("--base", type=int, default=4_000, help="targets in the small run (default 4,000)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes to compare with one (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; the median is reported")
    parser.add_argument("--provider", choices=("apns", "fcm"), default="apns")
    parser.add_argument("--concurrency", type=int, default=100, help="--concurrency of each sending process")
    parser.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = parser.parse_args()
    if args.n <= args.base:
        parser.error("--n must be larger than --base")

    sandbox = SandboxProcess()
    runs: list[Run] = []
    results: dict[int, list[Marginal]] = {1: [], args.processes: []}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            large_file, small_file = Path(scratch) / "large.csv", Path(scratch) / "small.csv"
            write_targets(large_file, args.provider, args.n)
            write_targets(small_file, args.provider, args.base)
            for repeat in range(args.repeat):
                for processes in results:  # interleaved, so outside load hits every case alike
                    small = run_once(sandbox, args, small_file, args.base, processes)
                    large = run_once(sandbox, args, large_file, args.n, processes)
                    runs += [small, large]
                    m = marginal(large, small)
                    results[processes].append(m)
                    print(
                        f"run {repeat + 1}/{args.repeat}, {processes} process(es): {m.total_us:.1f} µs/notif "
                        f"(parent {m.parent_us:.1f}, workers {m.workers_us:.1f}), "
                        f"{(args.n - args.base) / m.wall_s:,.0f}/s here, others {m.others_percent:.0f} %",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        sandbox.close()

    single, pool = median_of(results[1]), median_of(results[args.processes])
    extra = args.n - args.base
    print(f"\nunipush send --file ({args.provider}, {args.n:,} − {args.base:,} targets, --concurrency "
          f"{args.concurrency}), median of {args.repeat} runs; CPU per notification, marginal:\n")  # fmt: skip
    print("| command | parent CPU µs | workers CPU µs | total CPU µs | capacity/s (a core each) "
          "| notif/s here | sandbox CPU µs | others % |")  # fmt: skip
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for label, m in (("send", single), (f"send --processes {args.processes}", pool)):
        print(
            f"| {label} | {m.parent_us:.1f} | {m.workers_us:.1f} | {m.total_us:.1f} | {m.capacity():,.0f} "
            f"| {extra / m.wall_s:,.0f} | {m.sandbox_us:.1f} | {m.others_percent:.0f} |"
        )
    ratio = pool.capacity() / single.capacity()
    runs_ratio = statistics.median(
        p.capacity() / s.capacity() for s, p in zip(results[1], results[args.processes], strict=True)
    )
    print(f"\nscaling, {args.processes} processes / 1: {ratio:.2f}× (median of the per-run ratios: {runs_ratio:.2f}×)")
    print(
        f"sandbox: {single.sandbox_us:.0f} µs per notification, i.e. one core serves about "
        f"{1e6 / single.sandbox_us:,.0f}/s: on {os.cpu_count()} cores shared with the senders it is the "
        "bottleneck, hence the capacity figures"
    )
    if args.json:
        document = {
            "args": vars(args),
            "runs": [asdict(r) for r in runs],
            "marginal": {str(k): [asdict(m) for m in v] for k, v in results.items()},
        }
        Path(args.json).write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
