"""Kafka: client factories (``clients``), the producer the publisher sends through, the consumer
the subscriber reads with and the admin calls of both, on either client (the interfaces in
``producers``, ``consumers`` and ``admins``; kafka-python in ``kafkapython``, librdkafka in
``librdkafka`` and ``rdconsumer``), the
workarounds for the client and the brokers (``compat``), topic identity, what a message is, and
the two brokers: the embedded one (``embedded``) and Apache Kafka run from a classpath Maven
fetches (``apache``), and a Schema Registry (Apicurio, ``registry``) for Avro topics.

May import the core (config, errors, logs); knows nothing of Delta tables, CSV files or the report.
"""
