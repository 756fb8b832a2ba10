"""Turning checked rows into events: ids, JSON, duplicates, request bodies."""
