"""Sensors (deferrable where the wait is long)."""
