"""Reading CSV input: files, .gz and stdin in chunks, byte checks, the csv-module fallback."""
