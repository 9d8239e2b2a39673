"""SASL/SCRAM-SHA-512 over SASL_SSL on Apache Kafka, with a certificate authority made by the tests:
the publisher, the subscriber and its admin calls work through it; a wrong password, an unknown CA
and missing ACLs are each one line naming what is wrong, with no traceback and no secret, even at
DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from deltastream.errors import KafkaAuthenticationFailed
from deltastream.kafka import clients

from ..conftest import ROOT, Project
from .conftest import USERS, Secure

WRONG = "wrong-pw-Jd93"
ONCE = ("subscriber.py", "--once")
FLAGS = {"publisher.py": (), "subscriber.py": ("--once",)}


def run(
    command: tuple[str, ...], project: Project, user: str, *, password: str | None = None, ca: Path
) -> subprocess.CompletedProcess[str]:
    """A script and its flags as ``user`` over SASL_SSL, trusting ``ca`` ([kafka] ssl_cafile),
    logging at DEBUG: the Kafka client's own records included."""
    project.write(
        general={"logging_level": "DEBUG"},
        kafka={
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": user,
            "sasl_password": password or USERS[user],
            "connect_timeout_s": 10,
            "ssl_cafile": str(ca),
        },
    )
    script, *flags = command
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *project.args(*flags)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def clean(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of what a run wrote, once sure that no secret and no traceback are in it."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    for secret in (*USERS.values(), WRONG):
        assert secret not in output
    return result.stderr.splitlines()[-1]


@pytest.fixture(scope="module")
def published(secure: Secure, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A topic the admin published over SASL_SSL; 'reader' may read it and use the group."""
    project = Project(tmp_path_factory.mktemp("secure-project"), secure.servers, ("item",))
    project.csv("item", ["id", "v"], [[str(i), f"v{i}"] for i in range(50)])
    result = run(("publisher.py",), project, "admin", ca=secure.ca)
    assert result.returncode == 0, result.stderr
    clean(result)
    secure.grant("reader", (project.topics["item"],), (project.group,))
    secure.grant("groupless", (project.topics["item"],))
    return project


def test_publisher_and_subscriber_work_over_sasl_ssl(secure: Secure, published: Project) -> None:
    result = run(ONCE, published, "reader", ca=secure.ca)
    assert result.returncode == 0, result.stderr
    assert "caught up: 50 records" in clean(result)


@pytest.mark.parametrize("script", ["publisher.py", "subscriber.py"])
def test_a_wrong_password_is_one_line(secure: Secure, published: Project, script: str) -> None:
    user = "admin" if script == "publisher.py" else "reader"
    result = run((script, *FLAGS[script]), published, user, password=WRONG, ca=secure.ca)
    assert result.returncode == 1
    assert clean(result) == (
        f"{script}: error: the broker at {secure.servers} refused the SASL credentials of user '{user}' "
        "(Authentication failed during authentication due to invalid credentials with SASL mechanism "
        "SCRAM-SHA-512); check [kafka] sasl_username, sasl_password and sasl_mechanism"
    )


@pytest.mark.parametrize("script", ["publisher.py", "subscriber.py"])
def test_an_unknown_certificate_authority_is_one_line(
    secure: Secure, published: Project, script: str
) -> None:
    user = "admin" if script == "publisher.py" else "reader"
    result = run((script, *FLAGS[script]), published, user, ca=secure.other_ca)
    assert result.returncode == 1
    # librdkafka says only that the verification failed; kafka-python gives OpenSSL's reason.
    reason = {"kafka-python": "self-signed certificate in certificate chain"}.get(
        published.client, "certificate verify failed"
    )
    assert clean(result) == (
        f"{script}: error: the broker at {secure.servers} has a TLS certificate this machine does not "
        f"trust ({reason}); set [kafka] ssl_cafile to the certificate authority that signed it (a PEM file)"
    )


@pytest.mark.parametrize("once", [True, False], ids=["once", "in-group"])
def test_a_user_without_acls_on_the_topic_is_one_line(secure: Secure, published: Project, once: bool) -> None:
    result = run(ONCE if once else ("subscriber.py",), published, "nobody", ca=secure.ca)
    assert result.returncode == 1
    topic = published.topics["item"]
    assert clean(result) == (
        f"subscriber.py: error: the broker does not allow user 'nobody' to see topic {topic}, nor to "
        "create it; grant it DESCRIBE and READ on the topic (and create the topic as a user who may)"
    )


@pytest.mark.parametrize("once", [True, False], ids=["once", "in-group"])
def test_a_user_without_acls_on_the_group_is_one_line(secure: Secure, published: Project, once: bool) -> None:
    result = run(ONCE if once else ("subscriber.py",), published, "groupless", ca=secure.ca)
    assert result.returncode == 1
    group = published.group
    assert clean(result) == (
        f"subscriber.py: error: the broker does not allow user 'groupless' to use consumer group "
        f"{group}; grant it READ on the group {group} ([subscriber] group_id)"
    )


def test_librdkafka_publishes_over_sasl_ssl(secure: Secure, tmp_path: Path) -> None:
    """[kafka] client = "confluent-kafka": the same security keys, in librdkafka's names; nothing
    the run writes at DEBUG shows a secret."""
    project = Project(tmp_path, secure.servers, ("item",))
    project.write(kafka={"client": "confluent-kafka"})
    project.csv("item", ["id", "v"], [[str(i), f"v{i}"] for i in range(50)])
    result = run(("publisher.py",), project, "admin", ca=secure.ca)
    assert result.returncode == 0, result.stderr
    clean(result)
    topic = project.topics["item"]
    consumer = KafkaConsumer(**secure.client(), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        keys: set[bytes] = set()
        for _ in range(50):
            keys.update(m.key for batch in consumer.poll(timeout_ms=200).values() for m in batch)
            if len(keys) == 50:
                break
    finally:
        consumer.close()
    assert keys == {str(i).encode() for i in range(50)}


@pytest.mark.parametrize(("password", "which"), [(WRONG, "password"), (None, "ca")])
def test_librdkafka_refusals_are_one_line(
    secure: Secure, published: Project, password: str | None, which: str
) -> None:
    """The librdkafka producer itself, built without the publisher's topic checks before it: a
    refusal is said at once, as for kafka-python, not waited out."""
    published.write(
        kafka={
            "client": "confluent-kafka",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "admin",
            "sasl_password": password or USERS["admin"],
            "connect_timeout_s": 30,
            "ssl_cafile": str(secure.ca if which == "password" else secure.other_ca),
        }
    )
    started = time.monotonic()
    with pytest.raises(KafkaAuthenticationFailed) as info:
        clients.producer(published.config)
    assert time.monotonic() - started < 25  # not the whole connect_timeout_s
    message = str(info.value)
    assert "\n" not in message and USERS["admin"] not in message and WRONG not in message
    if which == "password":
        assert message.startswith(
            f"the broker at {secure.servers} refused the SASL credentials of user 'admin'"
        )
        assert message.endswith("check [kafka] sasl_username, sasl_password and sasl_mechanism")
    else:
        assert message.startswith(
            f"the broker at {secure.servers} has a TLS certificate this machine does not trust"
        )
