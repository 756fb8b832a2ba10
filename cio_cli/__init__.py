"""cio: backfill events and people into Customer.io from CSV, Parquet and NDJSON files, safely."""

__version__ = "0.1.0"
