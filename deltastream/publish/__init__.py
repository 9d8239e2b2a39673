"""The publisher: CSV rows to Kafka, paced and confirmed, with a summary per topic.

``source`` reads the CSV files; ``producer`` sends rows (``pacing``, ``confirm``, ``progress``);
``results`` and ``summary`` say what happened and decide the exit. May import the core and
``deltastream.kafka``; never the subscriber or the read side.
"""
