"""The CSV contract and the rules every event passes: header, rows, timestamps, values."""
