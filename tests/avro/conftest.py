"""A Schema Registry behind HTTPS and basic auth: the session's Apicurio Registry behind nginx
(Debian's ``nginx-light``), with a certificate authority and a password made by the tests. Without
nginx its tests are skipped (CI installs it)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deltastream.kafka.embedded import HOST, free_port
from deltastream.kafka.registry import API, RegistryServer

from ..kafka.conftest import make_ca, make_keystore

USER, PASSWORD = "reader", "registry-pw-Qx81"
NGINX = """\
{user}daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    server {{
        listen {host}:{port} ssl;
        ssl_certificate {keystore};
        ssl_certificate_key {keystore};
        auth_basic "registry";
        auth_basic_user_file {users};
        location / {{ proxy_pass http://{host}:{upstream}; }}
    }}
}}
"""


@dataclass(frozen=True)
class SecureRegistry:
    """The registry's API over HTTPS with basic auth, the CA that signed its certificate and one
    it never saw."""

    url: str
    ca: Path
    other_ca: Path


@pytest.fixture(scope="session")
def secure_registry(
    tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer
) -> Iterator[SecureRegistry]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    folder = tmp_path_factory.mktemp("nginx")
    ca_key, ca = make_ca(folder, "registry-ca")
    _, other_ca = make_ca(folder, "other-ca")
    keystore = make_keystore(folder, ca_key, ca)
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", PASSWORD], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    users = folder / "users"
    users.write_text(f"{USER}:{hashed}\n")
    port = free_port(HOST)
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX.format(
            # Run by root, nginx's workers would run as nobody, who cannot read the tests' folders.
            user="user root;\n" if os.geteuid() == 0 else "",
            folder=folder,
            host=HOST,
            port=port,
            keystore=keystore,
            users=users,
            upstream=registry.port,
        )
    )
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-e", str(folder / "error.log")], start_new_session=True
    )
    url = f"https://{HOST}:{port}{API}"
    deadline = time.monotonic() + 30
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(
                f"nginx did not start: {(folder / 'error.log').read_text(errors='replace')[-500:]}"
            )
        time.sleep(0.05)
    try:
        yield SecureRegistry(url, ca, other_ca)
    finally:
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    """Whether nginx answers on ``url`` (any HTTP status, certificate unchecked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        urllib.request.urlopen(url + "/subjects", timeout=2, context=context)
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True
