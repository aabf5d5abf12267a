"""Policies choose the next actions; importing this package registers the built-in ones in `POLICIES`."""

from lamdagent.policies import fixed, greedy, hybrid, llm, random, tpe  # noqa: F401 - each module registers its policy
from lamdagent.policies.base import POLICIES, Policy, PolicyOptions, PolicyView, Proposal, make_policy, policy_options

__all__ = ["POLICIES", "Policy", "PolicyOptions", "PolicyView", "Proposal", "make_policy", "policy_options"]
