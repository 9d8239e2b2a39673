"""CSV files to Kafka to Delta Lake, exactly once, and a typed report on top.

The package is laid out by side of the pipeline: ``kafka/`` (clients, workarounds, topic identity,
the embedded broker and the Apache Kafka runner), ``publish/`` (CSV to Kafka), ``subscribe/``
(Kafka to Delta) and ``query/`` (Delta to the report), beside a flat core that every side may
import and that imports no side: ``config``, ``values`` and ``schema``, ``errors``, ``logs``,
``tables``, ``deltalog``, ``signals``, ``scripts`` and ``native``. ``cli`` parses the commands'
arguments and is imported only by the commands: the scripts, ``broker`` (``python -m
deltastream.broker``, which starts a broker from ``kafka/``) and ``demo/``, which is for trying it
out.
"""

__version__ = "0.1.0"
