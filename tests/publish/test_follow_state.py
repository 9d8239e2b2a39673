"""What publisher.py --follow remembers: per topic, for the topic's id on the broker, beside the
files (a local folder, or S3); anything else (another broker, a damaged file) means every row is
sent again, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream import config
from deltastream.publish import folders
from deltastream.publish.folders import STATE_DIR, Folder, LocalFolder, S3Folder
from deltastream.publish.follow import Followed, changed_rows

from ..conftest import write_config
from ..s3server import S3Server


@pytest.fixture(params=["local", "s3"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Folder:
    if request.param == "local":
        return LocalFolder(tmp_path / "data")
    s3: S3Server = request.getfixturevalue("s3")
    return S3Folder(f"s3://{s3.bucket()}/raw", s3.storage_options)


def test_what_was_sent_is_kept_for_its_topic_id_only(folder: Folder) -> None:
    followed = Followed.of(folder, "item", "id-1")
    followed.sent = {"1": "aa", "2": "bb"}
    followed.save()
    assert Followed.of(folder, "item", "id-1").sent == {"1": "aa", "2": "bb"}
    assert Followed.of(folder, "item", "id-2").sent == {}  # a new broker, or the topic created anew


@pytest.mark.parametrize("content", ["null", "[1, 2]", '{"topic_id": "id-1", "sent": {"1": 5}}', "{"])
def test_a_damaged_file_means_every_row_again(folder: Folder, content: str) -> None:
    folder.keep_state("item", content)
    assert Followed.of(folder, "item", "id-1").sent == {}


def test_a_folder_that_cannot_be_written_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = LocalFolder(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / STATE_DIR).write_text("a file where the folder goes", encoding="utf-8")
    followed = Followed.of(folder, "item", "id-1")
    followed.sent = {"1": "aa"}
    followed.save()  # no exception
    assert any("what was sent cannot be remembered" in r.getMessage() for r in caplog.records)


def test_a_bucket_that_cannot_be_reached_is_said(s3: S3Server, caplog: pytest.LogCaptureFixture) -> None:
    folder = S3Folder("s3://no-such-bucket-here/raw", s3.storage_options)
    followed = Followed.of(folder, "item", "id-1")  # cannot be read: every row again
    assert followed.sent == {}
    followed.sent = {"1": "aa"}
    followed.save()
    assert any(
        "what was sent cannot be remembered in s3://no-such-bucket-here/raw/" in r.getMessage()
        for r in caplog.records
    )


def test_a_file_s3_did_not_give_is_tried_again_at_the_next_look(tmp_path: Path) -> None:
    """The server goes away between the look that found the upload whole and its download, then
    comes back (the same object: the same ETag): the rows are read then, not when it changes."""
    server = S3Server().start()
    port = int(server.endpoint.rsplit(":", 1)[1])

    def upload() -> str:
        bucket = "raw-bucket"
        server.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        server.client().put_object(Bucket=bucket, Key="raw/item.csv", Body=b"id,v\n1,a\n2,b\n")  # type: ignore[attr-defined]
        return f"s3://{bucket}/raw"

    try:
        raw = upload()
        path = write_config(
            tmp_path / "config.toml",
            {
                "general": {"bootstrap_servers": "localhost:9", "topics": ["item"]},
                "publisher": {"raw_path": raw},
                "publisher.storage_options": server.storage_options,
                "subscriber": {"delta_path": str(tmp_path / "delta")},
            },
        )
        cfg = config.load(path)
        followed = Followed.of(folders.of(cfg), "item", "id-1")
        assert not followed.look() and followed.look()  # seen, then the same: whole
        server.stop()
        assert changed_rows(cfg, followed) is None  # cannot be had now
        server.start(port=port)
        upload()
        assert followed.look()  # the same object, tried again
        rows = changed_rows(cfg, followed)
        assert rows is not None and [key for key, _ in rows] == ["1", "2"]
    finally:
        server.stop()
