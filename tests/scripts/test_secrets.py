"""Secrets are never shown: every script run at DEBUG, with a SASL password and an object-store
key in its config, against no broker at all and against a broker that does not speak SASL.

The secrets are random and hold a quote, a backslash and a non-ASCII letter, so that a library
printing them as a Python literal, as bytes or as JSON would not print them as written; the
random part must appear nowhere, in any form.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
import uuid
import warnings
from pathlib import Path

import pytest

from deltastream import logs
from deltastream.kafka.embedded import EmbeddedBroker, free_port

from ..conftest import start_script

SCRIPTS = {
    "publisher.py": ("publisher.py",),
    "subscriber.py": ("subscriber.py", "--once"),
    "query.py": ("query.py",),
}


class Secrets:
    def __init__(self) -> None:
        self.password_core = uuid.uuid4().hex
        self.key_core = uuid.uuid4().hex
        self.password = f"pw-{self.password_core}-Zoë's\\\"x"
        self.key = f"sk/{self.key_core}+Zoë's\\x"

    def cores(self) -> tuple[str, str]:
        return self.password_core, self.key_core


def write_config(root: Path, bootstrap: str, secrets: Secrets, connect_timeout_s: float = 2) -> Path:
    """A config at DEBUG, with SASL, and tables in an S3 bucket at an endpoint nothing listens on
    (tried twice, not the 10 times with back-off, over seconds, that delta-rs makes by default)."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "client.csv").write_text("id,name\n1,Ann\n", encoding="utf-8")
    text = f"""
[general]
logging_level = "DEBUG"
bootstrap_servers = "{bootstrap}"
topics = ["client"]

[kafka]
connect_timeout_s = {connect_timeout_s}
security_protocol = "SASL_PLAINTEXT"
sasl_mechanism = "PLAIN"
sasl_username = "alice"
sasl_password = {json.dumps(secrets.password)}

[publisher]
raw_path = "data"

[subscriber]
delta_path = "s3://bucket/tables"

[subscriber.storage_options]
AWS_ENDPOINT_URL = "http://127.0.0.1:{free_port()}"
AWS_ALLOW_HTTP = "true"
AWS_REGION = "us-east-1"
AWS_ACCESS_KEY_ID = "AKIDEXAMPLE"
AWS_SECRET_ACCESS_KEY = {json.dumps(secrets.key)}
max_retries = "1"

[query]
department = "client"
employee = "client"
sale = "client"
"""
    path = root / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_every_script(config: Path) -> dict[str, tuple[int, str, str]]:
    """Run the scripts at once (each waits connect_timeout_s for a broker), as a user would."""
    started = {name: start_script(*args, "--config", str(config)) for name, args in SCRIPTS.items()}
    results = {}
    for name, process in started.items():
        try:
            out, err = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        results[name] = (process.returncode, out, err)
    return results


def closing(err: str, name: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"{name}:")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def assert_nothing_shown(results: dict[str, tuple[int, str, str]], secrets: Secrets) -> None:
    for name, (code, out, err) in results.items():
        assert code == 1, (name, err[-3000:])
        # (At DEBUG, query.py logs the traceback of a table it cannot read, on purpose.)
        assert "error: unexpected" not in err, (name, err[-3000:])
        for core in secrets.cores():
            assert core not in out, name
            assert core not in err, name
    # The runs were at DEBUG, with the Kafka client's records: the masks were put to work.
    for name in ("publisher.py", "subscriber.py"):
        err = results[name][2]
        assert " DEBUG   kafka." in err, name
        assert "'sasl_plain_password': '***'" in err, name


def test_no_secret_is_shown_when_no_broker_answers(tmp_path: Path) -> None:
    secrets = Secrets()
    servers = f"127.0.0.1:{free_port()}"
    results = run_every_script(write_config(tmp_path, servers, secrets, connect_timeout_s=0.5))
    assert_nothing_shown(results, secrets)
    for name in ("publisher.py", "subscriber.py"):
        assert re.match(
            rf"{re.escape(name)}: error: no Kafka broker reachable at {re.escape(servers)} after \d+ s \(",
            closing(results[name][2], name),
        )
    assert closing(results["query.py"][2], "query.py").startswith(
        "query.py: error: table 'client' at s3://bucket/tables/client: "
    )


def test_no_secret_is_shown_by_a_broker_that_does_not_speak_sasl(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    """The embedded broker answers, but refuses the SASL handshake: the clients log their
    configuration and every request at DEBUG, and give up after connect_timeout_s."""
    secrets = Secrets()
    results = run_every_script(write_config(tmp_path, broker.bootstrap_servers, secrets))
    assert_nothing_shown(results, secrets)
    for name in ("publisher.py", "subscriber.py"):
        # The message gives the time it waited: connect_timeout_s (2 s), more on a loaded machine.
        assert re.match(
            rf"{re.escape(name)}: error: no Kafka broker reachable at "
            rf"{re.escape(broker.bootstrap_servers)} after [2-9] s \(",
            closing(results[name][2], name),
        )
        assert "SaslHandshake" in results[name][2]


# -- the masks themselves, without a subprocess ------------------------------------------------


@pytest.mark.parametrize(
    "shown",
    [
        "{secret}",
        "{secret!r}",
        "{bytes!r}",
        "{json}",
        "{quoted}",
    ],
)
def test_every_form_of_a_secret_is_masked(shown: str) -> None:
    from urllib.parse import quote

    secret = "pa'ss\\wörd\"x"
    text = "config: " + shown.format(
        secret=secret, bytes=secret.encode(), json=json.dumps(secret), quoted=quote(secret, safe="")
    )
    assert logs.redact(text, [secret]).count(logs.MASK) == 1
    assert "ss" not in logs.redact(text, [secret])


def test_the_formatter_masks_messages_arguments_and_tracebacks() -> None:
    secret = "hunter2-secret"
    formatter = logs.RedactingFormatter([secret])
    try:
        raise ValueError(f"bad password {secret!r}")
    except ValueError as exc:
        record = logging.LogRecord("kafka", logging.DEBUG, __file__, 1, "config %s", ({"pw": secret},), None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    text = formatter.format(record)
    assert secret not in text
    assert "config {'pw': '***'}" in text
    assert "ValueError: bad password '***'" in text


def test_warnings_thread_errors_and_the_progress_bar_are_masked(
    logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from tqdm.contrib.logging import logging_redirect_tqdm

    secret = f"s3cr3t-{uuid.uuid4().hex}"
    logs.setup(logging.DEBUG, [secret])
    with logging_redirect_tqdm(loggers=logs.console_loggers()):
        logging.getLogger("kafka.conn").debug("config %s", {"sasl_plain_password": secret})
        logging.getLogger("deltastream.publish.producer").info("row with %s", secret)
    warnings.warn(f"a library warns about {secret}", UserWarning, stacklevel=1)

    def fail() -> None:
        raise RuntimeError(f"thread saw {secret}")

    thread = threading.Thread(target=fail, name="sender")
    thread.start()
    thread.join()
    err = capsys.readouterr().err
    assert secret not in err
    assert "config {'sasl_plain_password': '***'}" in err
    assert "row with ***" in err
    assert "UserWarning: a library warns about ***" in err
    assert "Exception in thread sender:" in err and "RuntimeError: thread saw ***" in err
