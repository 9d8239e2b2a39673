#!/usr/bin/env python3
"""Broker restarts under a running subscriber: how often, and how soon, the tables are exact again.

    python bench/restarts.py                 # the figure in the README (20 cycles, a few minutes)
    python bench/restarts.py --cycles 3      # a quick look

The user's three terminals, scripted: an embedded broker (``python -m deltastream.broker``),
``subscriber.py`` running throughout, and ``publisher.py``. Each cycle stops the broker as Ctrl-C
does, waits a pause drawn from --gaps, starts it again on the same port (empty, as the embedded
broker always comes back), changes one department's name in the CSV and publishes that file. The
cycle ends when the department table holds the new name, or after --deadline seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from deltastream.kafka.embedded import HOST, free_port, port_open

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cycle:
    gap_s: float
    seconds: float
    exact: bool


def start_broker(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "deltastream.broker", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_open(HOST, port):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"the embedded broker did not start on port {port}")
        time.sleep(0.1)
    return process


def stop_broker(process: subprocess.Popen[bytes], port: int) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    while port_open(HOST, port):
        time.sleep(0.1)


def project(work: Path, port: int) -> Path:
    """The scripts, the package and data/ as a clone has them, config.toml pointing at ``port``."""
    for name in ("publisher.py", "subscriber.py", "query.py", "deltastream"):
        (work / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "data", work / "data")
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    servers = f'bootstrap_servers = "{HOST}:{port}"'
    config = re.sub(r'^bootstrap_servers = ".*"$', servers, config, flags=re.M)
    (work / "config.toml").write_text(config, encoding="utf-8")
    return work


def department_one(work: Path) -> str | None:
    try:
        frame = pl.read_delta(str(work / "delta" / "department"))
    except Exception:  # not written yet, or a commit in progress: asked again
        return None
    names = frame.filter(pl.col("id").cast(pl.String) == "1")["department"].to_list()
    return str(names[0]) if names else None


def publish(work: Path, *topics: str) -> None:
    args = ["--topics", ",".join(topics)] if topics else []
    subprocess.run([sys.executable, "publisher.py", *args], cwd=work, capture_output=True, check=False)


def rename_department(work: Path, name: str) -> None:
    path = work / "data" / "department.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = f"1,{name}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(cycles: int, gaps: list[float], deadline_s: float, seed: int, work: Path) -> list[Cycle]:
    random.seed(seed)
    port = free_port()
    project(work, port)
    broker = start_broker(port)
    log_file = (work / "subscriber.log").open("w")
    subscriber = subprocess.Popen(
        [sys.executable, "subscriber.py"], cwd=work, stdout=log_file, stderr=subprocess.STDOUT
    )
    results: list[Cycle] = []
    try:
        publish(work)
        for n in range(1, cycles + 1):
            gap = random.choice(gaps)
            stop_broker(broker, port)
            time.sleep(gap)
            broker = start_broker(port)
            name = f"Department {n}"
            rename_department(work, name)
            published = time.monotonic()
            publish(work, "department")
            while department_one(work) != name and time.monotonic() - published < deadline_s:
                time.sleep(0.2)
            cycle = Cycle(gap, time.monotonic() - published, department_one(work) == name)
            results.append(cycle)
            outcome = f"exact after {cycle.seconds:.1f} s" if cycle.exact else "NOT EXACT"
            print(f"{time.strftime('%H:%M:%S')} cycle {n}: pause {gap:g} s, {outcome}", file=sys.stderr)
    finally:
        subscriber.send_signal(signal.SIGINT)
        try:
            subscriber.wait(30)
        except subprocess.TimeoutExpired:
            subscriber.kill()
        stop_broker(broker, port)
        log_file.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20, help="broker restarts")
    parser.add_argument(
        "--gaps", default="0,0.5,1,2,4,6", help="pauses in seconds between stop and start, drawn at random"
    )
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds a cycle may take")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    gaps = [float(g) for g in args.gaps.split(",")]
    work = Path(tempfile.mkdtemp(prefix="deltastream-restarts-"))
    results = run(args.cycles, gaps, args.deadline, args.seed, work)
    exact = [c.seconds for c in results if c.exact]
    if len(exact) == len(results):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"the subscriber's log is kept: {work / 'subscriber.log'}", file=sys.stderr)
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("| restarts | tables exact again | median seconds | max seconds |")
    print("|---:|---:|---:|---:|")
    median = f"{statistics.median(exact):.1f}" if exact else "-"
    worst = f"{max(exact):.1f}" if exact else "-"
    print(f"| {len(results)} | {len(exact)} | {median} | {worst} |")
    return 0 if len(exact) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
