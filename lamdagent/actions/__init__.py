"""Action types, registered by name in `ACTIONS`; torch, TRL and mergekit load only when an action runs."""

from lamdagent.actions.base import ACTIONS, ActionContext, ActionParams, ActionType, Slot
from lamdagent.actions.dpo import DPO
from lamdagent.actions.merge import MERGES
from lamdagent.actions.sft import SFT

_builtin: tuple[type[ActionType], ...] = (SFT, DPO, *MERGES)
for _action in _builtin:
    ACTIONS.register(_action.name, _action)
del _action, _builtin

__all__ = ["ACTIONS", "ActionContext", "ActionParams", "ActionType", "Slot"]
