"""Avro in Confluent's wire format, and the Schema Registry that names its schemas.

:mod:`~deltastream.avro.registry` asks a registry (Confluent's REST API) for schemas by id;
:mod:`~deltastream.avro.schemas` reads an Avro schema as the typed columns of a table;
:mod:`~deltastream.avro.writer` makes one from declared columns and writes CSV text in it;
both sides use them (:mod:`deltastream.kafka.registry` runs a registry for the tests and the
benchmark). May import the core (:mod:`deltastream.config`, :mod:`deltastream.schema`,
:mod:`deltastream.errors`), fastavro and Polars; no side, nothing of Kafka or of Delta.
"""
