"""Kafka: client factories (``clients``), the producer the publisher sends through and the consumer
the subscriber reads with, on either client (the interfaces in ``producers`` and ``consumers``;
kafka-python in ``kafkapython``, librdkafka in ``librdkafka`` and ``rdconsumer``), the
workarounds for the client and the brokers (``compat``), topic identity, what a message is, and
the two brokers: the embedded one (``embedded``) and Apache Kafka run from a classpath Maven
fetches (``apache``).

May import the core (config, errors, logs); knows nothing of Delta tables, CSV files or the report.
"""
