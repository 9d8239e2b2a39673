"""The read side: the Delta tables opened for reading, the report, and query.py's views.

``diagnose`` opens tables and says in one line what is wrong with one that cannot be read;
``report``, ``summary`` and ``history`` build what query.py shows; ``views``, ``watch`` and
``render`` show it (``formats`` lists the outputs). May import the core only: never the writers.
"""
