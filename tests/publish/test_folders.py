"""Where the CSV files are: a folder, or a prefix on S3 (a real S3-compatible server): a change is
seen, the file read is the object's bytes, what is missing is said with the file's URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream import config
from deltastream.errors import ConfigError, SourceError
from deltastream.publish.folders import S3Folder, s3_settings
from deltastream.publish.source import read_rows

from ..conftest import write_config
from ..s3server import S3Server


def test_an_object_changed_is_seen_and_read_from_a_copy(s3: S3Server) -> None:
    bucket = s3.bucket()
    folder = S3Folder(f"s3://{bucket}/raw/", s3.storage_options)
    assert folder.stamp("item") is None  # not there yet
    client = s3.client()
    client.put_object(Bucket=bucket, Key="raw/item.csv", Body=b"id,v\n1,a\n")  # type: ignore[attr-defined]
    first = folder.stamp("item")
    assert first is not None and folder.ended("item")
    client.put_object(Bucket=bucket, Key="raw/item.csv", Body=b"id,v\n1,b\n")  # type: ignore[attr-defined]
    assert folder.stamp("item") not in (None, first)
    with folder.fetched("item") as path:
        assert str(path).endswith(f"/s3/{bucket}/raw/item.csv")  # the copy says where it came from
        rows = list(read_rows(path))
        assert [(r.key, r.values) for r in rows] == [("1", {"id": "1", "v": "b"})]  # type: ignore[union-attr]
    assert not path.exists()  # the copy is gone once read
    assert folder.name("item") == f"s3://{bucket}/raw/item.csv"


def test_a_missing_object_is_said_with_its_uri_and_a_wrong_bucket_too(s3: S3Server) -> None:
    bucket = s3.bucket()
    s3.client().put_object(Bucket=bucket, Key="raw/other.csv", Body=b"id\n1\n")  # type: ignore[attr-defined]
    folder = S3Folder(f"s3://{bucket}/raw", s3.storage_options)
    with pytest.raises(SourceError) as info, folder.fetched("nothing"):
        pass
    assert str(info.value) == f"s3://{bucket}/raw/nothing.csv: not found"
    with (
        pytest.raises(SourceError) as info,
        S3Folder("s3://no-such-bucket/raw", s3.storage_options).fetched("x"),
    ):
        pass
    assert str(info.value) == (
        "s3://no-such-bucket/raw/x.csv: not found "
        "(nothing is under s3://no-such-bucket/raw: is the bucket or the prefix right?)"
    )


def test_a_store_that_does_not_answer_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    options = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1"}
    folder = S3Folder("s3://b/raw", options | {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert folder.stamp("a") is None and folder.stamp("b") is None
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "s3://b/raw: its files cannot be looked at: no answer from http://127.0.0.1:9 "
        "(is AWS_ENDPOINT_URL right, and the server up?); looking again"
    ]  # once for the folder, not for each file


def test_storage_options_are_given_to_the_s3_client_it_takes_them() -> None:
    config_, client = s3_settings(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_REGION": "eu-west-1",
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",  # delta-rs's own: not the S3 client's business
        }
    )
    assert config_ == {"aws_endpoint_url": "http://127.0.0.1:9000", "aws_region": "eu-west-1"}
    assert client == {"allow_http": True}


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("s3://bucket/raw/", "s3://bucket/raw"),
        ("S3://bucket/raw", "s3://bucket/raw"),
        ("file:///srv/raw", Path("/srv/raw")),
        ("data", "data"),
    ],
)
def test_raw_path_is_a_folder_or_an_s3_prefix(tmp_path: Path, raw_path: str, expected: str | Path) -> None:
    path = write_config(
        tmp_path / "config.toml",
        {
            "general": {"bootstrap_servers": "localhost:9", "topics": ["item"]},
            "publisher": {"raw_path": raw_path},
            "subscriber": {"delta_path": "delta"},
        },
    )
    found = config.load(path).publisher.raw_path
    assert found == (tmp_path / "data" if expected == "data" else expected)


def test_raw_path_on_another_store_is_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "config.toml",
        {
            "general": {"bootstrap_servers": "localhost:9", "topics": ["item"]},
            "publisher": {"raw_path": "gs://bucket/raw"},
            "subscriber": {"delta_path": "delta"},
        },
    )
    with pytest.raises(ConfigError, match=r"\[publisher\] raw_path: expected a directory or an S3 URI"):
        config.load(path)
