"""Running actions: one isolated worker per trial, behind an executor interface (local processes or Ray)."""
