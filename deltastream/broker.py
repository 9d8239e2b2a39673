"""Run a Kafka broker in the foreground, for the three-terminal flow.

    python -m deltastream.broker            # port taken from config.toml
    python -m deltastream.broker --port 19092

The embedded broker is Tansu (:mod:`deltastream.kafka.embedded`), in memory. It runs in the
foreground; Ctrl-C (or SIGTERM) stops it, with exit status 0. It exits 1 when it cannot start (the
port is in use, the binary is missing or cannot run) or when the broker process ends by itself,
and 2 for a bad flag or config.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from deltastream import cli, logs, scripts
from deltastream.kafka.embedded import HOST, BrokerError, EmbeddedBroker

log = logging.getLogger(__name__)
DEFAULT_PORT = 9092
PROG = "python -m deltastream.broker"


def port_number(text: str) -> int:
    """A TCP port from the command line: 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


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

    return scripts.guard(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
