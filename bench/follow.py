#!/usr/bin/env python3
"""From saving a CSV file to the change in the gold table, with the whole lakehouse running.

An embedded broker, ``subscriber.py``, ``publisher.py --follow`` and ``query.py --watch --into``
run on the sample data; each round renames department 1 in ``department.csv`` (saved as an editor
saves it: a new file moved over the old one) and times until the gold table's rows show the new
name. Prints p50, p99 and the worst, in seconds.

    .venv/bin/python bench/follow.py                 # 20 edits
    .venv/bin/python bench/follow.py --edits 3       # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl

from deltastream.demo import sampledata
from deltastream.kafka.embedded import EmbeddedBroker

ROOT = Path(__file__).resolve().parent.parent


def start(script: str, config: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / script), "--config", str(config), *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def gold_department(gold: Path) -> set[str]:
    try:
        return set(pl.read_delta(str(gold))["department"].to_list())
    except Exception:  # not written yet, or a commit in progress: asked again
        return set()


def shows(gold: Path, name: str) -> bool:
    return name in gold_department(gold)


def wait_for(condition: Callable[[], object], timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"not seen within {timeout_s:.0f} s")


def save(path: Path, text: str) -> None:
    """As an editor saves: a new file, moved over the old one."""
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deltastream-follow-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        raw, gold = work / "data", work / "gold"
        sampledata.generate(raw, sampledata.Sizes())
        with EmbeddedBroker() as broker:
            config = work / "config.toml"
            config.write_text(
                f'[general]\nbootstrap_servers = "{broker.bootstrap_servers}"\n'
                'topics = ["client", "department", "employee", "sale"]\nlogging_level = "INFO"\n'
                f'[publisher]\nraw_path = "{raw}"\n[subscriber]\ndelta_path = "{work / "delta"}"\n',
                encoding="utf-8",
            )
            processes.append(start("subscriber.py", config, log=work / "subscriber.log"))
            processes.append(start("publisher.py", config, "--follow", log=work / "publisher.log"))
            processes.append(
                start("query.py", config, "--watch", "0.2", "--into", str(gold), log=work / "query.log")
            )
            wait_for(lambda: len(gold_department(gold)) > 1, 120)
            text = (raw / "department.csv").read_text(encoding="utf-8")
            first = text.splitlines()[1].split(",", 1)[1]
            seconds = []
            for edit in range(1, args.edits + 1):
                name = f"Dept {edit}"
                save(raw / "department.csv", text.replace(f"1,{first}\n", f"1,{name}\n", 1))
                seconds.append(wait_for(partial(shows, gold, name), 60))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(
        f"save -> gold table, {len(seconds)} edits: p50 {statistics.median(seconds):.2f} s, "
        f"p99 {p99:.2f} s, worst {ordered[-1]:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
