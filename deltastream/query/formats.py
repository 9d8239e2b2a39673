"""The output formats of query.py; standard library only, so that ``--help`` needs no package."""

FORMATS = ("table", "csv", "json", "ndjson", "parquet")
