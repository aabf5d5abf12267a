"""Evaluation: tasks, batched generation, checkers and the objective."""
