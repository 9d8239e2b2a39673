"""Shared fixtures: one broker per session, unique topics and configs per test.

Tests that need a broker carry the ``broker`` marker (given automatically to every test that uses
the ``broker`` fixture), so ``pytest -m "not broker"`` runs the rest: pure units and real Delta
tables in temp dirs. The broker is the embedded one unless ``--broker kafka`` asks for Apache
Kafka (Java 17+): ``pytest -m broker --broker kafka`` runs the broker tests again on it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from kafka import KafkaConsumer, TopicPartition

import publisher
import subscriber
from deltastream import config, logs
from deltastream.kafka.apache import ApacheKafka
from deltastream.kafka.embedded import EmbeddedBroker
from deltastream.kafka.registry import RegistryServer, server_jar_cached
from deltastream.subscribe.subscriber import Subscriber, assignment_for

from .s3server import S3Server

ROOT = Path(__file__).resolve().parent.parent


#: The brokers the session's ``broker`` fixture can be: ``--broker embedded`` (the default) or ``kafka``.
BROKERS = ("embedded", "kafka")
#: Apache Kafka for the tests: the test configs' 2 s group sessions (Kafka's floor is 6 s).
KAFKA_TEST_PROPERTIES = {"group.min.session.timeout.ms": "2000"}
#: The Kafka clients the test projects can use: ``--client kafka-python`` (the default) or
#: ``confluent-kafka``.
CLIENTS = ("kafka-python", "confluent-kafka")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=BROKERS,
        default="embedded",
        help="the broker of the broker tests: embedded (Tansu, in memory; the default) or kafka "
        "(Apache Kafka from tools/kafka/pom.xml; needs Java 17+, and Maven until it is fetched)",
    )
    parser.addoption(
        "--client",
        choices=CLIENTS,
        default="kafka-python",
        help="[kafka] client of the test projects' configs: kafka-python (the default) or confluent-kafka",
    )


def pytest_configure(config: pytest.Config) -> None:
    Project.client = str(config.getoption("--client"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the broker fixture or the secure one, or starts a broker of its own,
    needs a broker.

    On ``--broker kafka`` a test that starts an embedded broker of its own tests the embedded
    broker, which the embedded run does already: it is skipped.
    """
    on_kafka = config.getoption("--broker") == "kafka"
    for item in items:
        code = getattr(getattr(item, "function", None), "__code__", None)
        starts_one = code is not None and "EmbeddedBroker" in code.co_names
        # ``secure`` is a second Apache Kafka broker of its own (tests/kafka/conftest.py).
        if {"broker", "secure"} & set(getattr(item, "fixturenames", ())) or starts_one:
            item.add_marker(pytest.mark.broker)
        if on_kafka and starts_one:
            item.add_marker(
                pytest.mark.skip(reason="starts an embedded broker of its own: the embedded run tests it")
            )


class Broker(Protocol):
    """What the tests use of either broker."""

    @property
    def bootstrap_servers(self) -> str: ...


@pytest.fixture(scope="session")
def broker_kind(request: pytest.FixtureRequest) -> str:
    """``embedded`` or ``kafka``: the broker the session's ``broker`` fixture runs."""
    return str(request.config.getoption("--broker"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory, broker_kind: str) -> Iterator[Broker]:
    """A real Kafka-protocol broker on a free loopback port: Tansu in memory, or with ``--broker
    kafka`` Apache Kafka (its data in a temp dir)."""
    folder = tmp_path_factory.mktemp("broker")
    if broker_kind == "kafka":
        with ApacheKafka(folder / "kafka", properties=KAFKA_TEST_PROPERTIES) as kafka:
            yield kafka
        return
    with (folder / "broker.log").open("wb") as log, EmbeddedBroker(output=log) as running:
        yield running


#: Scripts started by the test in progress; whatever still runs when it ends is killed.
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def no_script_left_running() -> Iterator[None]:
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start_script(script: str, *args: str, quiet: bool = False) -> subprocess.Popen[str]:
    """Run one of the project's scripts as a user would, unbuffered, its output in pipes."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    process = subprocess.Popen(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        stdout=output,
        stderr=output,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    STARTED.append(process)
    return process


class Running:
    """A script started as a user would (:func:`start_script`), its stdout and stderr lines
    collected as they come."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = start_script(script, *args)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=lambda: self.out.extend(self.process.stdout or []), daemon=True),
            threading.Thread(target=lambda: self.err.extend(self.process.stderr or []), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def said(self, text: str, since: int = 0) -> bool:
        """Whether a line of stderr from line ``since`` on holds ``text``."""
        return any(text in line for line in self.err[since:])

    def printed(self, text: str, since: int = 0) -> bool:
        """Whether a line of stdout from line ``since`` on holds ``text``."""
        return any(text in line for line in self.out[since:])

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int:
        """Send ``signum`` (Ctrl-C by default) and wait for the script's end (killed if it does
        not end); its exit status, once all its output is read."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            for reader in self.readers:
                reader.join(10)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def write_csv(path: Path, header: list[str], rows: list[list[str]], **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=kwargs.pop("encoding", "utf-8"), newline="") as handle:
        writer = csv.writer(handle, lineterminator=kwargs.pop("lineterminator", "\n"), **kwargs)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Project:
    """A temp project directory: config.toml, data/ and delta/, with unique topics and group."""

    #: The [kafka] client of every project's config (``--client``).
    client = "kafka-python"

    def __init__(self, root: Path, bootstrap: str, roles: tuple[str, ...]) -> None:
        self.root = root
        self.bootstrap = bootstrap
        tag = uuid.uuid4().hex[:8]
        self.topics = {role: f"{role}-{tag}" for role in roles}
        self.group = f"group-{tag}"
        self.raw = root / "data"
        self.delta = root / "delta"
        self.raw.mkdir(parents=True, exist_ok=True)
        self.overrides: dict[str, dict[str, Any]] = {}
        self.config_path = root / "config.toml"
        self.write()

    def write(self, **sections: dict[str, Any]) -> Path:
        for name, values in sections.items():
            self.overrides.setdefault(name, {}).update(values)
        base: dict[str, dict[str, Any]] = {
            "general": {
                "logging_level": "INFO",
                "bootstrap_servers": self.bootstrap,
                "topics": list(self.topics.values()),
            },
            "kafka": {
                "client": self.client,
                "session_timeout_ms": 2000,
                "heartbeat_interval_ms": 400,
                "connect_timeout_s": 10,
            },
            "publisher": {"raw_path": "data", "batch_size": 100, "partitions": 3},
            "subscriber": {
                "delta_path": "delta",
                "group_id": self.group,
                "max_batch_latency_ms": 50,
            },
            "query": {
                role: topic
                for role, topic in self.topics.items()
                if role in ("client", "department", "employee", "sale")
            },
        }
        for name, values in self.overrides.items():
            base.setdefault(name, {}).update(values)
        if not base["query"]:
            del base["query"]
        return write_config(self.config_path, base)

    @property
    def config(self) -> config.Config:
        return config.load(self.config_path)

    def csv(self, role: str, header: list[str], rows: list[list[str]], **kwargs: Any) -> Path:
        return write_csv(self.raw / f"{self.topics[role]}.csv", header, rows, **kwargs)

    def args(self, *extra: str) -> list[str]:
        return ["--config", str(self.config_path), *extra]


@pytest.fixture
def project_factory(tmp_path: Path, broker: Broker) -> Callable[..., Project]:
    counter = iter(range(1000))

    def make(*roles: str) -> Project:
        return Project(tmp_path / f"p{next(counter)}", broker.bootstrap_servers, roles or ("item",))

    return make


REPORT_ROLES = ("client", "department", "employee", "sale")


def run_pipeline(project: Project) -> None:
    assert publisher.main(project.args()) == 0
    assert subscriber.main(project.args("--once")) == 0


def write_sample(project: Project) -> None:
    """A CSV set the pipeline has never seen: quoting, BOM, CRLF, non-ASCII, apostrophes."""
    project.csv(
        "client",
        ["id", "first_name", "last_name"],
        [["1", "Zoë", "O'Brien"], ["2", "José, Jr.", "Núñez"], ["3", "Ann", "Lee"]],
        encoding="utf-8-sig",
        lineterminator="\r\n",
    )
    project.csv("department", ["id", "department"], [["1", "Finance"], ["2", "Research"]])
    project.csv(
        "employee",
        ["id", "first_name", "last_name", "department_id"],
        [["1", "Åsa", "Ek", "1"], ["2", "Tom", "D'Arcy", "2"]],
    )
    project.csv(
        "sale",
        ["id", "employee_id", "client_id", "date", "region", "sale"],
        [
            ["3", "1", "2", "9/11/2024", "North", "10"],
            ["1", "2", "1", "1/4/2024", "South-East", "1200.5"],
            ["2", "1", "3", "28/2/2024", "West", "99.99"],
        ],
    )


def expected_csv(department_one: str) -> str:
    lines = [
        "id,employee_name,department,client_name,date,region,sale",
        "1,Tom D'Arcy,Research,Zoë O'Brien,2024-04-01,South-East,1200.50",
        f"2,Åsa Ek,{department_one},Ann Lee,2024-02-28,West,99.99",
        f'3,Åsa Ek,{department_one},"José, Jr. Núñez",2024-11-09,North,10.00',
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def report_project(project_factory: Callable[..., Project]) -> Project:
    """A project with the report's four topics and nothing written yet."""
    return project_factory(*REPORT_ROLES)


@pytest.fixture
def sales_project(report_project: Project, capsys: pytest.CaptureFixture[str]) -> Project:
    """The report's project with the sample CSV set published and subscribed once."""
    write_sample(report_project)
    run_pipeline(report_project)
    capsys.readouterr()
    return report_project


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[Any]:
    """Every message of ``topic`` (all partitions, from the start), waiting for ``expected`` of them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = wait_until(lambda: consumer.partitions_for_topic(topic), timeout)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                messages.extend(batch)
        # One more short poll: more messages than expected must show up as a failure.
        for batch in consumer.poll(timeout_ms=300).values():
            messages.extend(batch)
        return messages
    finally:
        consumer.close()


@contextmanager
def running_subscriber(cfg: config.Config, join_timeout: float = 30.0) -> Iterator[Subscriber]:
    """The subscriber's real loop in group mode, on a thread; stopped (and checked to have
    stopped) on leaving. An error the loop raised is raised here."""
    worker = Subscriber(cfg)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(assignment_for(cfg, once=False))
        except BaseException as exc:  # raised again in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(join_timeout)
    assert not thread.is_alive(), "the subscriber did not stop"
    if failure:
        raise failure[0]


def assigned(worker: Subscriber) -> bool:
    """Whether a running subscriber's consumer holds partitions."""
    session = worker.session
    consumer = session.consumer if session is not None else None
    return bool(consumer is not None and consumer.assignment())


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """Undo what logs.setup (run by a script's main() in-process) does to this process's loggers
    and hooks."""
    hooks = (threading.excepthook, sys.unraisablehook)
    names = (*logs.PROJECT_LOGGERS, *logs.CLIENT_LOGGERS, logs.WARNINGS_LOGGER)
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in names}
    # An earlier in-process run may have left logging capturing warnings already, from inside
    # another test's warning capture: start afresh, as a script does.
    logging.captureWarnings(False)
    try:
        yield
    finally:
        threading.excepthook, sys.unraisablehook = hooks
        logging.captureWarnings(False)
        for name, (level, handlers) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).handlers = handlers


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible server (moto, in a subprocess) on a free loopback port."""
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real Schema Registry (Apicurio, in memory) on a free loopback port; it needs Java 17+
    and, until Maven has fetched it, Maven: without them its tests are skipped (CI installs both)."""
    if shutil.which("java") is None or (shutil.which("mvn") is None and not _registry_cached()):
        pytest.skip("the Schema Registry needs java (17+) and mvn on PATH")
    log_file = tmp_path_factory.mktemp("registry") / "registry.log"
    with RegistryServer(log_file=log_file) as server:
        yield server


def _registry_cached() -> bool:
    try:
        return server_jar_cached()
    except OSError:
        return False


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtualenv with nothing installed (made in well under a second: no pip)."""
    root = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    python = str(root / "bin" / "python")
    probe = subprocess.run(
        [python, "-c", "import kafka"], capture_output=True, cwd="/", check=False, timeout=30
    )
    assert probe.returncode != 0, "the bare virtualenv sees the project's packages"
    return python


class Programs:
    """Real runs of the project's scripts, started ahead of the tests that check them.

    A run costs 0.1 to 0.3 s, mostly imports. A module's ``programs`` fixture (autouse, module
    scope) starts, as the module begins, the runs its selected tests check, so that they go on
    beside the module's in-process tests; each test then awaits its own (:meth:`result`).
    """

    def __init__(self, request: pytest.FixtureRequest, root: Path) -> None:
        self.request = request
        #: A folder of the module's own, for the runs' configs and data.
        self.root = root
        self.selected = {
            getattr(item, "originalname", item.name)
            for item in request.session.items
            if getattr(item, "module", None) is request.module
        }
        self.processes: dict[str, subprocess.Popen[str]] = {}
        #: The command line of each run.
        self.argv: dict[str, list[str]] = {}

    def wanted(self, test: str) -> bool:
        """Whether ``test`` (a test function of the module) is to run, so its runs are to start."""
        return test in self.selected

    def start(
        self, key: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``argv`` from the project's folder, its output in pipes, as run ``key``."""
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else dict(env),
        )
        self.processes[key] = process
        self.argv[key] = list(argv)
        return process

    def process(self, key: str) -> subprocess.Popen[str]:
        return self.processes[key]

    def result(self, key: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Wait for run ``key`` to end: its exit status and what it wrote."""
        process = self.processes[key]
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def close(self) -> None:
        """Kill the runs still going (their tests failed, or were not run)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


class Terminal:
    """A command running with stdout and stderr on a pseudo-terminal of 40 rows of 120 columns,
    as a person runs it (``NO_COLOR`` unset); what it writes is read as it comes. ``session``:
    in a process group of its own, as a terminal's foreground job."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, session: bool = False) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        self.process = subprocess.Popen(
            argv,
            stdout=follower,
            stderr=follower,
            cwd=ROOT,
            env={**environment, "COLUMNS": "120", **(env or {})},
            start_new_session=session,
        )
        os.close(follower)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:  # the other end closed: all read
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def seen(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def close(self, timeout: float = 120) -> int:
        """Wait for the command to end (killed if it does not); its exit status."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.reader.join(5)
            os.close(self.leader)
        return code


def in_terminal(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    """A command run on a :class:`Terminal` to its end: its exit status and everything it wrote."""
    terminal = Terminal(argv, env)
    code = terminal.close(timeout)
    return code, terminal.seen()
