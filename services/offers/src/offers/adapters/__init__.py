"""Implementations of the ports: MongoDB store, in-memory store, geography, ROME, France Travail API."""
