"""Where the publisher's CSV files are: a local folder, or a prefix on S3 (``raw_path``).

Both give, per topic, the name messages use, how the file looks now (to tell a change), whether it
is whole, the file to read, and the file of what ``--follow`` sent. An object on S3 is whole as soon
as it can be seen (a PUT replaces it at once); it is read from a copy in a temporary folder whose
path ends with the bucket and the key (``.../s3/bucket/raw/sale.csv``), removed once read, and what
``--follow`` sent is kept beside the files, at ``<raw_path>/.deltastream-follow/<topic>.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from deltastream.config import Config
from deltastream.errors import SourceError
from deltastream.publish.source import csv_path, file_name, problem

log = logging.getLogger(__name__)

#: The folder, in raw_path, of what ``--follow`` sent.
STATE_DIR = ".deltastream-follow"
#: The keys of ``storage_options`` the S3 client takes (without ``AWS_``), and those that are
#: settings of its HTTP client; others (delta-rs's own) are not its business.
S3_KEYS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "region",
        "default_region",
        "endpoint",
        "endpoint_url",
        "bucket",
        "virtual_hosted_style_request",
        "skip_signature",
        "unsigned_payload",
        "request_payer",
        "role_arn",
        "role_session_name",
        "web_identity_token_file",
        "sts_endpoint",
        "server_side_encryption",
        "sse_kms_key_id",
        "sse_bucket_key_enabled",
        "checksum_algorithm",
        "metadata_endpoint",
        "container_credentials_relative_uri",
        "container_credentials_full_uri",
        "container_authorization_token_file",
    }
)
#: How long a request to S3 is tried again before it counts as failed (a look at the files is
#: then logged, and made again at the next look).
RETRY_S = 10
HTTP_KEYS = frozenset({"allow_http", "allow_invalid_certificates", "connect_timeout", "timeout", "proxy_url"})


class Unreachable(SourceError):
    """The file could not be had for now (the store did not answer): it is tried again."""


class Folder(Protocol):
    def name(self, topic: str) -> str:
        """What messages call ``topic``'s file."""

    def stamp(self, topic: str) -> tuple[object, ...] | None:
        """How the file looks now (a change changes it); ``None`` when there is none."""

    def ended(self, topic: str) -> bool:
        """Whether the file is whole: empty, or its last line ended."""

    def fetched(self, topic: str) -> contextlib.AbstractContextManager[Path]:
        """The file to read (raises :class:`SourceError` when it cannot be had)."""

    def state(self, topic: str) -> str | None:
        """What ``--follow`` remembered (raises OSError when it cannot be read)."""

    def keep_state(self, topic: str, text: str) -> None:
        """Remember ``text`` for ``topic`` (raises OSError when it cannot be written)."""

    def state_name(self, topic: str) -> str: ...


def of(cfg: Config) -> Folder:
    raw = cfg.publisher.raw_path
    return LocalFolder(raw) if isinstance(raw, Path) else S3Folder(raw, cfg.raw_storage_options)


class LocalFolder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __str__(self) -> str:
        return str(self.root)

    def name(self, topic: str) -> str:
        return file_name(self.root, topic)

    def stamp(self, topic: str) -> tuple[object, ...] | None:
        try:
            info = os.stat(csv_path(self.root, topic))
        except OSError:
            return None
        return (info.st_size, info.st_mtime_ns)

    def ended(self, topic: str) -> bool:
        try:
            with csv_path(self.root, topic).open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() == 0:
                    return True
                handle.seek(-1, os.SEEK_END)
                return handle.read(1) in (b"\n", b"\r")
        except OSError:
            return True  # reading says what is wrong

    @contextlib.contextmanager
    def fetched(self, topic: str) -> Iterator[Path]:
        path = csv_path(self.root, topic)
        reason = problem(path)
        if reason is not None:
            raise SourceError(str(path), reason)
        yield path

    def state_name(self, topic: str) -> str:
        return str(self.root / STATE_DIR / f"{topic}.json")

    def state(self, topic: str) -> str | None:
        path = self.root / STATE_DIR / f"{topic}.json"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def keep_state(self, topic: str, text: str) -> None:
        path = self.root / STATE_DIR / f"{topic}.json"
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)


def s3_settings(options: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """``storage_options`` as the S3 client's configuration and its HTTP client's options."""
    config: dict[str, str] = {}
    client: dict[str, Any] = {}
    for key, value in options.items():
        name = key.lower().removeprefix("aws_")
        if name in HTTP_KEYS:
            client[name] = value.lower() == "true" if name.startswith("allow") else value
        elif name in S3_KEYS:
            config[f"aws_{name}"] = value
    return config, client


class S3Folder:
    """``raw_path`` on S3 (``s3://bucket/prefix``), reached with ``storage_options``."""

    def __init__(self, uri: str, options: Mapping[str, str]) -> None:
        import obstore.store

        self.uri = uri.rstrip("/")
        config, client = s3_settings(options)
        self.scheme, _, self.rest = self.uri.partition("://")
        #: The topics whose file could not be looked at last time.
        #: Whether the store did not answer the last look (said once, and once it answers again).
        self.failing = False
        self.store = obstore.store.S3Store.from_url(
            f"s3://{self.rest}",
            config=config,  # type: ignore[arg-type]
            client_options=client,  # type: ignore[arg-type]
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=RETRY_S)},
        )

    def __str__(self) -> str:
        return self.uri

    def name(self, topic: str) -> str:
        return file_name(self.uri, topic)

    def stamp(self, topic: str) -> tuple[object, ...] | None:
        import obstore
        from obstore.exceptions import BaseError

        try:
            meta = obstore.head(self.store, f"{topic}.csv")
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            if not self.failing:
                log.warning("%s: its files cannot be looked at: %s; looking again", self.uri, s3_problem(exc))
            self.failing = True
            return None
        if self.failing:
            self.failing = False
            log.info("%s: its files can be looked at again", self.uri)
        return (meta["size"], meta["e_tag"] or meta["last_modified"])

    def ended(self, topic: str) -> bool:
        return True  # an object is seen whole or not at all

    @contextlib.contextmanager
    def fetched(self, topic: str) -> Iterator[Path]:
        import obstore
        from obstore.exceptions import BaseError

        with tempfile.TemporaryDirectory(prefix="deltastream-raw-") as folder:
            copy = Path(folder, self.scheme, self.rest, f"{topic}.csv")
            try:
                result = obstore.get(self.store, f"{topic}.csv")
                copy.parent.mkdir(parents=True)
                with copy.open("wb") as out:
                    for chunk in result.stream():
                        out.write(chunk)
            except FileNotFoundError:
                raise SourceError(self.name(topic), f"not found{self.nothing_there()}") from None
            except (BaseError, OSError) as exc:
                raise Unreachable(self.name(topic), f"cannot be read: {s3_problem(exc)}") from None
            log.info("%s: read from a copy at %s", self.name(topic), copy)
            yield copy

    def nothing_there(self) -> str:
        """The end of a "not found" when nothing at all is under raw_path (a wrong bucket or
        prefix), else nothing."""
        import obstore
        from obstore.exceptions import BaseError

        try:
            listed = obstore.list_with_delimiter(self.store)
        except (BaseError, OSError):
            listed = None
        if listed and (listed["objects"] or listed["common_prefixes"]):
            return ""
        return f" (nothing is under {self.uri}: is the bucket or the prefix right?)"

    def state_name(self, topic: str) -> str:
        return f"{self.uri}/{STATE_DIR}/{topic}.json"

    def state(self, topic: str) -> str | None:
        import obstore
        from obstore.exceptions import BaseError

        try:
            return bytes(obstore.get(self.store, f"{STATE_DIR}/{topic}.json").bytes()).decode("utf-8")
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            raise OSError(first_line(exc)) from None

    def keep_state(self, topic: str, text: str) -> None:
        import obstore
        from obstore.exceptions import BaseError

        try:
            obstore.put(self.store, f"{STATE_DIR}/{topic}.json", text.encode("utf-8"))
        except (BaseError, OSError) as exc:
            raise OSError(first_line(exc)) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def s3_problem(exc: BaseException) -> str:
    """What an S3 request's error says, in a few words: the client's own text is a paragraph."""
    text = first_line(exc)
    endpoint = re.search(r"https?://[^/\s]+", text)
    where = endpoint.group(0) if endpoint else "the S3 endpoint"
    if "169.254.169.254" in text:  # no credentials given: the client asked the instance's
        return "no credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in storage_options)"
    if "error sending request" in text or "onnection refused" in text or "dns error" in text:
        return f"no answer from {where} (is AWS_ENDPOINT_URL right, and the server up?)"
    if any(code in text for code in ("403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch")):
        return f"{where} refused the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    return text.split(" - ")[0][:200]
