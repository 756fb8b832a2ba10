"""Golden data for tests/test_golden.py: what ``cio`` printed and wrote at a known-good commit."""
