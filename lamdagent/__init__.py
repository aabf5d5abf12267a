"""lamdagent."""
