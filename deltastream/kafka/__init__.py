"""Kafka: client factories (``clients``), the producer the publisher sends through on either client
(the interface in ``producers``; kafka-python in ``clients``, librdkafka in ``librdkafka``), the
workarounds for the client and the brokers, topic identity, what a message is, and the two
brokers: the embedded one (``embedded``) and Apache Kafka run from a classpath Maven fetches
(``apache``).

May import the core (config, errors, logs); knows nothing of Delta tables, CSV files or the report.
"""
