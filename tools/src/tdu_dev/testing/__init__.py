"""Test fixtures and helpers shared by every service's tests (loaded by the root conftest.py)."""
