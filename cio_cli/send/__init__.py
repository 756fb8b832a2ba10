"""Delivering requests: the API seam, its Track implementation, HTTP, the sinks."""
