"""What the three scripts share: common flags, config loading and turning errors into exit codes."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from typing import Any

from deltastream import config, logs
from deltastream.errors import PipelineError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples in descriptions as written, and show the defaults that say something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser with the flags every script takes; ``doc`` is the script's docstring."""
    summary, _, details = (doc or "").strip().partition("\n")
    result = argparse.ArgumentParser(
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
        "--bootstrap-servers",
        metavar="HOST:PORT[,...]",
        help="override [general] bootstrap_servers",
    )
    group.add_argument("--topics", metavar="T1,T2", help="override [general] topics (comma-separated subset)")
    group.add_argument(
        "--log-level", metavar="LEVEL", help="override [general] logging_level (DEBUG, INFO, ...)"
    )
    return result


def load(args: argparse.Namespace, extra: dict[tuple[str, str], Any] | None = None) -> config.Config:
    """Load the config named by ``--config`` with the common flags and ``extra`` applied."""
    overrides: dict[tuple[str, str], Any] = {}
    if args.bootstrap_servers is not None:
        overrides[("general", "bootstrap_servers")] = args.bootstrap_servers
    if args.topics is not None:
        overrides[("general", "topics")] = args.topics
    if args.log_level is not None:
        raw_level = args.log_level
        overrides[("general", "logging_level")] = int(raw_level) if raw_level.isdigit() else raw_level
    for key, value in (extra or {}).items():
        if value is not None:
            overrides[key] = value
    cfg = config.load(args.config, overrides)
    logs.setup(cfg.general.logging_level)
    return cfg


def quiet_gc() -> None:
    """Keep the cyclic GC off the hot path.

    The scripts allocate a few container objects per record (dicts, futures), which would start a
    collection every 700 allocations; objects made at start-up are frozen out of it entirely.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def run(prog: str, body: Callable[[], int]) -> int:
    """Run a script's body; a :class:`PipelineError` becomes one line on stderr and its exit code."""
    quiet_gc()
    try:
        return body()
    except PipelineError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
