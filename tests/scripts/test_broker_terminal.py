"""The embedded broker's terminal: its own spinner and lines go to a log file, and one line of
activity (topics, partitions, messages and their rate) updates in place; piped, its lines as they
are."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading

from kafka import KafkaProducer

from deltastream.kafka.embedded import HOST, free_port, port_open

from ..conftest import ROOT, wait_until


def test_a_terminal_shows_one_line_of_activity_and_no_spinner() -> None:
    port = free_port()
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    broker = subprocess.Popen(
        [sys.executable, "-m", "deltastream.broker", "--port", str(port)],
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as at a terminal: Ctrl-C reaches the broker too
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def seen() -> str:
        return b"".join(chunks).decode(errors="replace")

    try:
        wait_until(lambda: port_open(HOST, port) and "0 topics, 0 partitions, 0 messages" in seen(), 30)
        producer = KafkaProducer(bootstrap_servers=f"{HOST}:{port}")
        for _ in range(100):
            producer.send("activity", b"x")
        producer.flush()
        wait_until(lambda: ", 100 messages (+" in seen(), 30)
        for _ in range(50):
            producer.send("activity", b"y")
        producer.flush()
        producer.close()
        wait_until(lambda: ", 150 messages (+" in seen(), 30)  # counted again, not a cached end
    finally:
        os.killpg(broker.pid, signal.SIGINT)  # Ctrl-C: to the whole foreground group
        broker.wait(30)
        reader.join(5)
        os.close(leader)
    text = seen()
    assert broker.returncode == 0
    assert f"listening on {HOST}:{port} (its log: " in text
    assert "\r\x1b[K" in text and "1 topic, " in text
    assert "listening for connection" not in text  # the broker's own spinner went to its log
    assert text.rstrip().endswith("broker stopped; its in-memory data is gone")


def test_closing_the_terminal_stops_the_broker() -> None:
    port = free_port()
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    broker = subprocess.Popen(
        [sys.executable, "-m", "deltastream.broker", "--port", str(port)],
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(follower)
    try:
        wait_until(lambda: port_open(HOST, port), 30)
        broker.send_signal(signal.SIGHUP)  # the terminal gone: to the script alone, the broker is its to stop
        broker.wait(30)
        wait_until(lambda: not port_open(HOST, port), 30)  # the broker went with it
    finally:
        if broker.poll() is None:
            broker.kill()
        os.close(leader)
