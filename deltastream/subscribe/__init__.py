"""The subscriber: Kafka to Delta tables, upserted by id, exactly once.

``subscriber`` runs sessions of the ``loop``, which polls into a ``batch`` (with its flush policy)
under a ``guard`` of topic identity and an ``assignment`` of partitions, and hands batches over
(``handover``) to the ``writer`` thread. There a format (``formats``) turns messages into ``rows``,
which the ``sink`` writes: the offsets kept in Delta (``offsets``, ``positions``), only the rows
that change (``changes``), the upsert itself (``upsert``), ``deadletters`` and ``maintenance``;
``evolution`` holds each table to its declared columns when the subscriber starts. May import the core and
``deltastream.kafka``; never the publisher or the read side.
"""
