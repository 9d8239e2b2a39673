"""A local S3-compatible server (moto in server mode) in a subprocess, on a free loopback port.

It runs in a process of its own: delta-rs holds the GIL while it waits on some requests, and an
in-process server would then never answer. Buckets are created per test, so tests never share
state.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from types import TracebackType

import boto3

#: Binds the port given (0: any free one, no race for it) in the child and prints the port it got.
SERVER = """
import sys
from werkzeug.serving import make_server
from moto.server import DomainDispatcherApplication, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
ACCESS_KEY = "deltastream-test"
SECRET_KEY = "deltastream-test-secret"
REGION = "us-east-1"


class S3Server:
    """``with S3Server() as s3: s3.bucket()`` gives a new bucket on a fresh local S3 server."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self, timeout_s: float = 30.0, port: int = 0) -> S3Server:
        """Start the server (on ``port``, or a free one): empty, when it is started again."""
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).read()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            process.wait(10)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def storage_options(self) -> dict[str, str]:
        """What [subscriber.storage_options] holds for this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def bucket(self) -> str:
        """A new, empty bucket; returns its name."""
        name = f"b-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """The object keys under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
