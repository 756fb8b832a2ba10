"""cio: backfill events into Customer.io from CSV files, safely and fast."""

__version__ = "0.1.0"
