"""Kafka: client factories, the workarounds for the client and the brokers, topic identity, what a
message is, and the embedded broker.

May import the core (config, errors, logs); knows nothing of Delta tables, CSV files or the report.
"""
