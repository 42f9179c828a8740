"""slotfsm.testing: prove a store, test an app, check a lifecycle (needs ``slotfsm[testing]``).

Vocabulary, after Hypothesis's ``stateful.py``:

* :class:`Operation` / :class:`Race`: one SlotManager call, or two racing on one slot;
  :func:`perform` runs one against a manager and captures a :class:`Result`.
* :class:`ReferenceModel`: the whole system (slots, records, history) derived from a
  Lifecycle alone; what every store and the model checker are held to.
* :func:`check_invariants`: the invariants every consistent store keeps.
* Strategies: :func:`events`, :func:`contexts`, :func:`operation`, :func:`operations`.
* :func:`store_contract`: a ``RuleBasedStateMachine`` proving a store against the model::

      TestMyStore = store_contract(lambda: MyStore(...)).TestCase

* :func:`transition_paths`: shortest event sequences covering every transition and
  every refusal, for example-based tests of a host's own API.

Names are imported lazily so that the pytest plugin (``slotfsm.testing._plugin``) costs
nothing until it is used; Hypothesis is imported only by the names that need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._contract import store_contract
    from ._invariants import check_invariants, snapshot
    from ._model import Fired, Operation, Race, ReferenceModel, Result, perform
    from ._paths import TransitionPath, transition_paths
    from ._strategies import contexts, events, operation, operations

__all__ = [
    "Fired",
    "Operation",
    "Race",
    "ReferenceModel",
    "Result",
    "TransitionPath",
    "check_invariants",
    "contexts",
    "events",
    "operation",
    "operations",
    "perform",
    "snapshot",
    "store_contract",
    "transition_paths",
]

_WHERE = {
    "store_contract": "_contract",
    "check_invariants": "_invariants",
    "snapshot": "_invariants",
    "Fired": "_model",
    "Operation": "_model",
    "Race": "_model",
    "ReferenceModel": "_model",
    "Result": "_model",
    "perform": "_model",
    "TransitionPath": "_paths",
    "transition_paths": "_paths",
    "contexts": "_strategies",
    "events": "_strategies",
    "operation": "_strategies",
    "operations": "_strategies",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'slotfsm.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
