"""Checkers: pure functions that judge one answer against its reference.

They sit below both `data` and `evaluation`: the built-in data generators use them to make sure every
answer they write is right (and every rejected one wrong), and the tasks use them to score models.
They import nothing of lamdagent but errors, the registry and the tool-call format.
"""
