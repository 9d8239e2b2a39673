"""publisher.py --follow: new and changed rows sent whenever a file is saved, remembered across
restarts; with the subscriber, a saved edit reaches the table without re-running anything."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import polars as pl
import pytest

import publisher
import subscriber

from ..conftest import Project, start_script, wait_until


class Following:
    def __init__(self, project: Project) -> None:
        self.process = start_script("publisher.py", *project.args("--follow"))
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stderr or []), daemon=True).start()

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        out = self.process.stdout.read() if self.process.stdout else ""
        return self.process.wait(30), out


def test_saved_edits_are_sent_and_remembered(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    item = project.topics["item"]
    project.csv("item", ["id", "v"], [["1", "a"], ["2", "b"], ["3", "c"]])
    following = Following(project)
    try:
        wait_until(lambda: following.said(f"{item}: 3 new or changed rows sent"), 30)
        wait_until(lambda: following.said("following 1 file in "), 10)
        project.csv("item", ["id", "v"], [["1", "a"], ["2", "B"], ["3", "c"], ["4", "d"]])  # saved
        wait_until(lambda: following.said(f"{item}: 2 new or changed rows sent (5 so far)"), 30)
    finally:
        code, out = following.stop()
    assert code == 0 and f"{item}: 5 rows sent while following" in out

    again = Following(project)  # a restart sends what changed meanwhile: nothing
    try:
        wait_until(lambda: again.said(f"{item}: nothing new in "), 30)
    finally:
        code, _ = again.stop()
    assert code == 0 and not again.said("new or changed rows sent")

    assert subscriber.main(project.args("--once")) == 0
    table = pl.read_delta(str(project.delta / item)).sort("id")
    assert table.select("id", "v").rows() == [("1", "a"), ("2", "B"), ("3", "c"), ("4", "d")]


def test_a_file_being_written_is_read_once_it_is_whole(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    item = project.topics["item"]
    path = project.csv("item", ["id", "v"], [["1", "a"]])
    following = Following(project)
    try:
        wait_until(lambda: following.said("following 1 file in "), 30)
        with path.open("a", encoding="utf-8") as handle:  # a writer in the middle of a long save
            handle.write("2,b\n3,")
            handle.flush()
            wait_until(lambda: following.said("its last line is not ended yet; waiting for the rest"), 30)
            handle.write("c\n")
        wait_until(lambda: following.said(f"{item}: 2 new or changed rows sent (3 so far)"), 30)
    finally:
        code, _ = following.stop()
    assert code == 0 and not following.said("(4 so far)")  # "3," alone was never sent


def test_follow_takes_no_rate_or_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        publisher.main(["--follow", "--rate", "5"])
    assert info.value.code == 2
    assert "--follow sends each saved file's changes at once: --rate and --batch-size do not apply" in (
        capsys.readouterr().err
    )
