"""The user's habit: subscriber.py keeps running while the embedded broker is stopped and started
again on the same port (in memory: every topic comes back new, with new ids, or not at all).

Each test runs the real script and asserts that every table is exact within seconds of its data
being published again, that the subscriber says when the broker goes and comes back, and that it
never prints a traceback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from deltalake.exceptions import TableNotFoundError

import publisher
from deltastream.kafka.embedded import EmbeddedBroker, free_port

from ..conftest import REPORT_ROLES, ROOT, Project, wait_until, write_sample

pytestmark = pytest.mark.broker

#: How long a table may take to be exact after its data is published.
FRESH_S = 20


class Running:
    """subscriber.py in a subprocess, its stderr in a file that the test reads as it grows."""

    def __init__(self, project: Project, log_path: Path) -> None:
        self.log_path = log_path
        self.handle = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "subscriber.py"), *project.args()],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.handle,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.handle.close()


@contextmanager
def subscriber_running(project: Project, tmp_path: Path) -> Iterator[Running]:
    running = Running(project, tmp_path / "subscriber.log")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)
        running.handle.close()


def table_rows(project: Project, role: str) -> list[tuple[str, ...]]:
    try:
        frame = pl.read_delta(str(project.delta / project.topics[role]))
    except (TableNotFoundError, OSError):
        return []
    return sorted(frame.rows(), key=lambda r: int(r[0]))


def csv_rows(project: Project, role: str) -> list[tuple[str, ...]]:
    frame = pl.read_csv(project.raw / f"{project.topics[role]}.csv", infer_schema=False)
    return sorted(frame.rows(), key=lambda r: int(r[0]))


def exact(project: Project, roles: tuple[str, ...] = REPORT_ROLES) -> bool:
    return all(table_rows(project, role) == csv_rows(project, role) for role in roles)


def publish(project: Project, *roles: str) -> None:
    topics = ",".join(project.topics[role] for role in roles)
    assert publisher.main(project.args("--topics", topics)) == 0


def fintech(project: Project) -> None:
    project.csv("department", ["id", "department"], [["1", "FinTech"], ["2", "Research"]])


def more_sales(project: Project) -> None:
    project.csv(
        "sale",
        ["id", "employee_id", "client_id", "date", "region", "sale"],
        [
            ["1", "2", "1", "1/4/2024", "South-East", "1200.5"],
            ["2", "1", "3", "28/2/2024", "West", "99.99"],
            ["3", "1", "2", "9/11/2024", "North", "10"],
            ["4", "2", "2", "1/12/2024", "East", "42"],
        ],
    )


def assert_clean(running: Running) -> None:
    log = running.log
    assert "Traceback" not in log, log
    assert running.process.poll() is None, log


def load_everything_then_stop_the_broker(project: Project, port: int) -> None:
    """A first broker on ``port``: every topic published and every table exact, then it stops."""
    with EmbeddedBroker(port=port):
        publish(project, *REPORT_ROLES)
        wait_until(lambda: exact(project), FRESH_S)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    result = Project(tmp_path / "p", f"127.0.0.1:{free_port()}", REPORT_ROLES)
    write_sample(result)
    return result


def test_a_short_outage_then_topics_published_again_one_by_one(project: Project, tmp_path: Path) -> None:
    port = int(project.bootstrap.rpartition(":")[2])
    with subscriber_running(project, tmp_path) as running:
        load_everything_then_stop_the_broker(project, port)
        with EmbeddedBroker(port=port):
            fintech(project)
            publish(project, "department")
            wait_until(lambda: table_rows(project, "department") == csv_rows(project, "department"), FRESH_S)
            assert_clean(running)
            # The other topics come back later: once the subscriber waits for them.
            wait_until(lambda: "to be created on the broker" in running.log, FRESH_S)
            more_sales(project)
            publish(project, "client", "employee", "sale")
            wait_until(lambda: exact(project), FRESH_S)
            assert_clean(running)
            assert "is not answering" in running.log or "created anew" in running.log
        assert running.stop() == 0, running.log
    assert "Traceback" not in running.log


def test_an_outage_of_over_40_seconds(project: Project, tmp_path: Path) -> None:
    """Longer than a client's default reconnect backoff: the subscriber says every
    connect_timeout_s (10 s here) that it still waits, and notices the broker's return at once."""
    port = int(project.bootstrap.rpartition(":")[2])
    with subscriber_running(project, tmp_path) as running:
        load_everything_then_stop_the_broker(project, port)
        wait_until(lambda: "is not answering" in running.log, 15)
        wait_until(lambda: running.log.count("still waiting for the broker") >= 4, 60)
        assert_clean(running)
        with EmbeddedBroker(port=port):
            wait_until(lambda: "is back after" in running.log, 15)
            fintech(project)
            more_sales(project)
            publish(project, *REPORT_ROLES)
            wait_until(lambda: exact(project), FRESH_S)
            assert_clean(running)
        assert running.stop() == 0, running.log
    log = running.log
    assert log.count("WARNING") >= 6
    waited = [int(s) for s in re.findall(r"still waiting for the broker at \S+ \((\d+) s so far", log)]
    assert len(waited) >= 4 and waited[3] >= 40, waited
    assert "Traceback" not in log


def test_ctrl_c_while_waiting_for_the_broker_stops_at_once(project: Project, tmp_path: Path) -> None:
    port = int(project.bootstrap.rpartition(":")[2])
    with subscriber_running(project, tmp_path) as running:
        load_everything_then_stop_the_broker(project, port)
        wait_until(lambda: "is not answering" in running.log, 15)
        started = time.monotonic()
        assert running.stop(signal.SIGINT, timeout=10) == 0, running.log
        assert time.monotonic() - started < 5
    log = running.log
    assert "Traceback" not in log
    assert "SIGINT" in log
