"""Checkers: pure functions that judge one answer against its reference."""
