"""One topic's CSV rows as message keys and values: JSON objects of text, or Avro records.

A topic whose format is avro (``[topic.<name>] format``, else ``[publisher] format``) gets a
schema made from its file's header and declared columns (:mod:`deltastream.avro.writer`),
registered once per file under the subject ``<topic>-value``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

from deltastream.config import Config
from deltastream.errors import SourceError
from deltastream.publish.source import Row, file_name
from deltastream.schema import NotConverted

if TYPE_CHECKING:
    from deltastream.avro.writer import AvroRows

log = logging.getLogger(__name__)


class JsonObjects:
    """A file's rows as compact JSON objects of strings, non-ASCII text kept as UTF-8: the bytes
    ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))`` gives, twice as fast, the
    header's names encoded once. Every row of a file has the header's names, in its order."""

    def __init__(self, names: Iterable[str]) -> None:
        self.prefixes = [encode_basestring(name) + ":" for name in names]

    def encode(self, values: dict[str, str]) -> bytes:
        pairs = zip(self.prefixes, values.values(), strict=True)
        return ("{" + ",".join([prefix + encode_basestring(v) for prefix, v in pairs]) + "}").encode()


class TopicEncoder:
    """Rows of one topic's file to keys and values, in the topic's format; made from the first
    row's names, the header's."""

    def __init__(self, cfg: Config, topic: str) -> None:
        self.cfg = cfg
        self.topic = topic
        self.avro = cfg.format(topic) == "avro"
        self._objects: JsonObjects | None = None
        self._avro: AvroRows | None = None

    def encode(self, row: Row) -> tuple[str, bytes]:
        """The row's key and value; raises :class:`NotConverted` for a value its type cannot
        hold, :class:`SourceError` when the topic gets no schema."""
        if self.avro:
            self._avro = self._avro or self._avro_rows(list(row.values))
            return self._avro.encode(row.values)
        self._objects = self._objects or JsonObjects(row.values)
        return row.key, self._objects.encode(row.values)

    def _avro_rows(self, header: list[str]) -> AvroRows:
        # Imported here: fastavro and an HTTP client cost a JSON publisher ~60 ms at start.
        from deltastream.avro.registry import Registry, UnknownSchema
        from deltastream.avro.writer import AvroRows, record_schema

        path = file_name(self.cfg.publisher.raw_path, self.topic)
        registry = Registry.of(self.cfg.kafka)
        if registry is None:
            raise SourceError(path, "no [kafka] schema_registry_url")
        declared = self.cfg.schema(self.topic).columns
        id_column = self.cfg.general.id_column
        subject = f"{self.topic}-value"
        try:
            schema = record_schema(self.topic, header, declared, id_column)
            schema_id = registry.register(subject, schema)
        except (NotConverted, UnknownSchema) as exc:
            raise SourceError(path, f"no Avro schema: {exc}") from None
        log.info("%s: Avro schema id %d (subject %s)", self.topic, schema_id, subject)
        return AvroRows(schema, schema_id, declared, id_column)
