"""Argument parsing for every script: the flags they share, their help, and one line for a bad flag.

Only the standard library is used here, so ``--help`` works and a bad flag is reported in one line
even outside the virtualenv. The library never imports this module: only the scripts do.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, NoReturn

from deltastream import config
from deltastream.scripts import USAGE


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples in descriptions as written, and show the defaults that say something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad flag reported in one line (``<prog>: error: ...; see <prog> --help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def parser(prog: str, doc: str | None, kafka: bool = True) -> ArgumentParser:
    """A parser with the flags every script takes; ``doc`` is the script's docstring.

    ``kafka``: the script talks to Kafka, and takes ``--bootstrap-servers`` and ``--topics``.
    """
    summary, _, details = (doc or "").strip().partition("\n")
    result = ArgumentParser(
        prog=prog,
        description=summary,
        epilog=details.strip() or None,
        formatter_class=HelpFormatter,
    )
    group = result.add_argument_group("configuration")
    group.add_argument(
        "--config",
        default="config.toml",
        metavar="PATH",
        help="the TOML file that drives all three scripts",
    )
    group.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="override [general] logging_level (DEBUG, INFO, WARNING, ERROR, CRITICAL or 1..50)",
    )
    if kafka:
        group.add_argument(
            "--bootstrap-servers",
            metavar="HOST:PORT[,...]",
            help="override [general] bootstrap_servers",
        )
        group.add_argument(
            "--topics", metavar="T1,T2", help="override [general] topics (comma-separated subset)"
        )
    return result


def overrides(
    args: argparse.Namespace, extra: Mapping[tuple[str, str], Any] | None = None
) -> config.Overrides:
    """Config overrides from the common flags and ``extra`` (``None`` values are not given).

    Values are passed as typed on the command line; the config checks them like the file's.
    """
    result: dict[tuple[str, str], Any] = {}
    if getattr(args, "bootstrap_servers", None) is not None:
        result[("general", "bootstrap_servers")] = args.bootstrap_servers
    if getattr(args, "topics", None) is not None:
        result[("general", "topics")] = args.topics
    if args.log_level is not None:
        result[("general", "logging_level")] = args.log_level
    result.update({key: value for key, value in (extra or {}).items() if value is not None})
    return result
