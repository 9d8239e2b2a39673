"""CSV files to Kafka to Delta Lake, exactly once, and a typed report on top."""

__version__ = "0.1.0"
