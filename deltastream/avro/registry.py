"""A Schema Registry client: Confluent's REST API over HTTP(S), with optional basic auth and a CA.

A schema is fetched once per id and kept (a schema id never changes meaning). A registry that
cannot be reached, or refuses the credentials, raises :class:`~deltastream.errors.RegistryUnavailable`:
the subscriber stops with one line rather than turn every message into a dead letter. An id the
registry does not know raises :class:`UnknownSchema`: the messages that name it are dead letters.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from deltastream.config import KafkaConfig
from deltastream.errors import RegistryUnavailable, one_line

#: How long one request may take.
TIMEOUT_S = 10.0
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: The registry's error codes for a subject, a version or a schema it does not have.
NOT_FOUND = (40401, 40402, 40403)


class UnknownSchema(Exception):
    """The registry does not know a schema id."""


class Registry:
    """One registry, its schemas kept by id."""

    def __init__(  # noqa: PLR0913 (the registry's address, credentials and what a failure means)
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        cafile: Path | None = None,
        timeout_s: float = TIMEOUT_S,
        then: str | None = None,
    ) -> None:
        """``then`` says what follows when the registry does not answer (added to the fix)."""
        self.url = url.rstrip("/")
        self._fix = f"{_FIX}; {then}" if then else _FIX
        self.timeout_s = timeout_s
        self._headers = {"Accept": CONTENT_TYPE}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
        self._schemas: dict[int, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, kafka: KafkaConfig, then: str | None = None) -> Registry | None:
        """The registry ``[kafka]`` names, if it names one."""
        if kafka.schema_registry_url is None:
            return None
        password = kafka.schema_registry_password
        return cls(
            kafka.schema_registry_url,
            kafka.schema_registry_username,
            password.get() if password else None,
            kafka.schema_registry_cafile,
            then=then,
        )

    def schema(self, schema_id: int) -> str:
        """The text of schema ``schema_id``; raises :class:`UnknownSchema` when the registry does
        not know it."""
        with self._lock:
            found = self._schemas.get(schema_id)
        if found is not None:
            return found
        answer = self._call("GET", f"/schemas/ids/{schema_id}", missing=f"schema id {schema_id}")
        kind = answer.get("schemaType", "AVRO")
        if kind != "AVRO":
            raise UnknownSchema(f"schema id {schema_id} is a {kind} schema, not Avro")
        text = answer.get("schema")
        if not isinstance(text, str):
            raise RegistryUnavailable(self.url, f"no schema in its answer for id {schema_id}", self._fix)
        with self._lock:
            self._schemas[schema_id] = text
        return text

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (again: the same id); its id."""
        body = json.dumps({"schema": json.dumps(schema)}).encode()
        answer = self._call("POST", f"/subjects/{subject}/versions", body=body, missing=f"subject {subject}")
        schema_id = answer.get("id")
        if not isinstance(schema_id, int):
            raise RegistryUnavailable(self.url, f"no id in its answer for subject {subject}", self._fix)
        return schema_id

    def _call(self, method: str, path: str, *, missing: str, body: bytes | None = None) -> dict[str, Any]:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._context) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            code, said = _said(exc)
            if exc.code == 404 and code in NOT_FOUND:
                raise UnknownSchema(f"{missing} is not in the Schema Registry at {self.url}") from None
            if exc.code == 404:
                raise RegistryUnavailable(
                    self.url,
                    f"answered 404 Not Found without a registry's error code ({said})",
                    "is it the URL of the registry's API? (Apicurio's: http://host:port/apis/ccompat/v7)",
                ) from None
            if exc.code in (401, 403):
                raise RegistryUnavailable(
                    self.url,
                    f"refused with {exc.code} {exc.reason} ({said})",
                    "check [kafka] schema_registry_username and schema_registry_password",
                ) from None
            if exc.code in (409, 422):
                raise UnknownSchema(f"{missing}: the registry refused the schema ({said})") from None
            raise RegistryUnavailable(
                self.url, f"answered {exc.code} {exc.reason} ({said})", self._fix
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise RegistryUnavailable(self.url, f"not reachable ({one_line(reason)})", self._fix) from None
        try:
            answer_json = json.loads(raw)
        except ValueError:
            raise RegistryUnavailable(
                self.url, "its answer is not JSON (is it a Schema Registry?)", self._fix
            ) from None
        if not isinstance(answer_json, dict):
            raise RegistryUnavailable(
                self.url, "its answer is not a JSON object (is it a Schema Registry?)", self._fix
            )
        return answer_json


_FIX = "start the registry or correct [kafka] schema_registry_url"


def _said(exc: urllib.error.HTTPError) -> tuple[int | None, str]:
    """The registry's own error code and message in an error answer, shortened."""
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return None, "no message"
    if not isinstance(body, dict):
        return None, "no message"
    message = body.get("message")
    code = body.get("error_code")
    return (code if isinstance(code, int) else None), (one_line(message)[:200] if message else "no message")
