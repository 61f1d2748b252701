"""Adapters: the LHEO reader, the MongoDB store."""
