"""The README's Finance-to-FinTech walkthrough, run as written, in more than one time zone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deltastream.kafka.embedded import EmbeddedBroker

from ..conftest import ROOT, wait_until


def walkthrough_blocks() -> list[str]:
    """The shell blocks of the README's "Changing Finance to FinTech" section, after --watch."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Changing Finance to FinTech", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks[0].strip() == "python query.py --watch"
    return blocks[1:]


def project_copy(tmp_path: Path, bootstrap: str) -> Path:
    """The scripts, the package and data/ as a user's clone has them, with config.toml pointing
    at the test's broker."""
    root = tmp_path / "clone"
    root.mkdir()
    for name in ("publisher.py", "subscriber.py", "query.py", "deltastream"):
        (root / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "data", root / "data")
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    config = re.sub(r'^bootstrap_servers = ".*"$', f'bootstrap_servers = "{bootstrap}"', config, flags=re.M)
    (root / "config.toml").write_text(config, encoding="utf-8")
    return root


def shell(root: Path, script: str, tz: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": tz, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.broker
@pytest.mark.parametrize("tz", ["Asia/Kolkata", "America/Los_Angeles"])
def test_the_fintech_walkthrough_works_as_written(tmp_path: Path, tz: str) -> None:
    with EmbeddedBroker() as broker:
        root = project_copy(tmp_path, broker.bootstrap_servers)
        subscriber = subprocess.Popen(
            [sys.executable, "subscriber.py"],
            cwd=root,
            env={**os.environ, "TZ": tz},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert shell(root, "python publisher.py > /dev/null", tz).returncode == 0

            def report() -> str:
                result = shell(root, "python query.py --format csv", tz)
                return result.stdout if result.returncode == 0 else ""

            wait_until(lambda: report().count("\n") > 300, 60)
            assert "FinTech" not in report()
            time.sleep(1.1)  # `date` gives whole seconds: the first load is then before "$before"
            change, look_back = walkthrough_blocks()
            # One shell, as a reader's terminal: $before carries over. Between the blocks the
            # reader watches the report turn to FinTech; each command's output is marked.
            wait = "until python query.py --format csv 2>/dev/null | grep -q FinTech; do sleep 0.1; done"
            commands = [line for line in look_back.splitlines() if line.strip()]
            marked = "\n".join(f"echo '=== {n}'\n{line}" for n, line in enumerate(commands))
            result = shell(root, f"{change}\n{wait}\n{marked}", tz)
            assert result.returncode == 0, result.stderr
            outputs = dict(re.findall(r"^=== (\d+)\n(.*?)(?=^=== |\Z)", result.stdout, re.S | re.M))
            as_of, history = outputs["0"], outputs["1"]
            assert as_of.startswith("sales report as of "), as_of
            assert "Finance" in as_of and "FinTech" not in as_of
            assert history.startswith("history: ")
            assert "FinTech" in report()
            assert (root / "data" / "department.csv").read_text().splitlines()[1] == "1,Finance"
        finally:
            subscriber.terminate()
            subscriber.wait(30)
