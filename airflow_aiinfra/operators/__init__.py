"""Operators. Each module owns one task's behaviour; heavy client imports happen in execute()."""
