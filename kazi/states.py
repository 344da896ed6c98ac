"""A tiny transition-table helper: each model declares its legal (state, action) -> state pairs
in one place, and every status change goes through `apply`."""

from collections.abc import Mapping

from django.db import models

from kazi.errors import Conflict


class IllegalTransition(Conflict):
    code = "illegal_transition"


class StateMachine:
    def __init__(self, name: str, transitions: Mapping[tuple[str, str], str]) -> None:
        self.name = name
        self.transitions = dict(transitions)

    def target(self, state: str, action: str) -> str:
        try:
            return self.transitions[(state, action)]
        except KeyError:
            raise IllegalTransition(f"Cannot {action} a {self.name} that is {state}.") from None

    def allows(self, state: str, action: str) -> bool:
        return (state, action) in self.transitions

    def apply(self, obj: models.Model, action: str, field: str = "status") -> str:
        new_state = self.target(getattr(obj, field), action)
        setattr(obj, field, new_state)
        return new_state
