"""Datasets: user data loaders and the built-in offline suite's generators."""
