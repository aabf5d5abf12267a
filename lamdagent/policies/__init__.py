"""Policies choose the next actions; importing this package registers the built-in ones in `POLICIES`."""

from lamdagent.policies import fixed, greedy, llm, random  # noqa: F401 - each module registers its policy
from lamdagent.policies.base import POLICIES, Policy, PolicyView, Proposal

__all__ = ["POLICIES", "Policy", "PolicyView", "Proposal"]
