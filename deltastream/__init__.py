"""CSV files to Kafka to Delta Lake, exactly once, and a typed report on top.

The package is laid out by side of the pipeline: ``kafka/`` (clients, workarounds, topic identity,
the embedded broker), ``publish/`` (CSV to Kafka), ``subscribe/`` (Kafka to Delta) and ``query/``
(Delta to the report), beside a flat core that every side may import: ``config`` and ``values``,
``errors``, ``logs``, ``tables``, ``signals``, ``scripts`` and ``native``. ``cli`` parses the
scripts' arguments and is imported by the scripts only. ``demo/`` is for trying it out.
"""

__version__ = "0.1.0"
