"""Serving the lake: SQL over every layer."""
