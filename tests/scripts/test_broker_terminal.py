"""The embedded broker's terminal: its own spinner and lines go to a log file, and one line of
activity (topics, partitions, messages and their rate) updates in place; piped, its lines as they
are."""

from __future__ import annotations

import os
import signal
import sys

from kafka import KafkaProducer

from deltastream.kafka.embedded import HOST, free_port, port_open

from ..conftest import Terminal, wait_until


def broker_at_a_terminal(port: int) -> Terminal:
    # Its own process group, as at a terminal: Ctrl-C reaches the broker too.
    return Terminal([sys.executable, "-m", "deltastream.broker", "--port", str(port)], session=True)


def test_a_terminal_shows_one_line_of_activity_and_no_spinner() -> None:
    port = free_port()
    terminal = broker_at_a_terminal(port)
    try:
        wait_until(
            lambda: port_open(HOST, port) and "0 topics, 0 partitions, 0 messages" in terminal.seen(), 30
        )
        producer = KafkaProducer(bootstrap_servers=f"{HOST}:{port}")
        for _ in range(100):
            producer.send("activity", b"x")
        producer.flush()
        wait_until(lambda: ", 100 messages (+" in terminal.seen(), 30)
        for _ in range(50):
            producer.send("activity", b"y")
        producer.flush()
        producer.close()
        wait_until(lambda: ", 150 messages (+" in terminal.seen(), 30)  # counted again, not a cached end
    finally:
        os.killpg(terminal.process.pid, signal.SIGINT)  # Ctrl-C: to the whole foreground group
        code = terminal.close(30)
    text = terminal.seen()
    assert code == 0
    assert f"listening on {HOST}:{port} (its log: " in text
    assert "\r\x1b[K" in text and "1 topic, " in text
    assert "listening for connection" not in text  # the broker's own spinner went to its log
    assert text.rstrip().endswith("broker stopped; its in-memory data is gone")


def test_closing_the_terminal_stops_the_broker() -> None:
    port = free_port()
    terminal = broker_at_a_terminal(port)
    try:
        wait_until(lambda: port_open(HOST, port), 30)
        # The terminal gone: to the script alone, the broker is its to stop.
        terminal.process.send_signal(signal.SIGHUP)
        terminal.process.wait(30)
        wait_until(lambda: not port_open(HOST, port), 30)  # the broker went with it
    finally:
        terminal.close(30)
