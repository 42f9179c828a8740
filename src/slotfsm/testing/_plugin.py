"""The slotfsm pytest plugin (entry point ``pytest11: slotfsm``).

``pytest --slotfsm-store URL`` runs the whole store contract
(:func:`slotfsm.testing.store_contract`) against ``open_store(URL)``.

Each Hypothesis example needs a fresh, empty store. For every example the plugin
opens the URL with a unique ``prefix=`` (table or key prefix) when the store accepts
one; a store that does not must be empty each time it is opened (the contract checks
and says so). For ``sqlite:///path.db`` each example gets its own file next to
``path.db`` (``path-<run>-<n>.db``). Nothing heavy (Hypothesis, the stores) is imported
until the option is used.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from slotfsm.stores import Store

__all__ = ["ContractItem", "pytest_addoption", "pytest_collection_modifyitems"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("slotfsm", "slotfsm store contract")
    group.addoption(
        "--slotfsm-store",
        metavar="URL",
        default=None,
        help="run slotfsm's store contract against open_store(URL), e.g. sqlite:///t.db",
    )
    group.addoption(
        "--slotfsm-examples",
        metavar="N",
        type=int,
        default=50,
        help="Hypothesis examples for the store contract (default 50)",
    )


def _factory(url: str) -> Callable[[], Store]:
    from slotfsm.stores import open_store

    counter = itertools.count(1)
    run = os.urandom(3).hex()
    accepts_prefix = [True]

    def make() -> Store:
        if url.startswith("sqlite:"):
            # One file per example: a second table prefix in a file SQLiteStore has
            # already migrated gets no tables (its schema version is per file).
            base, dot, ext = url.partition("?")[0].rpartition(".")
            stem = base if dot else url.partition("?")[0]
            return open_store(f"{stem}-{run}-{next(counter)}.{ext if dot else 'db'}")
        if accepts_prefix[0] and not url.startswith("memory:"):
            try:
                return open_store(url, prefix=f"c{run}_{next(counter)}_")
            except TypeError:
                accepts_prefix[0] = False
        return open_store(url)

    return make


class ContractItem(pytest.Item):
    """One test item: the store contract against ``--slotfsm-store``."""

    def __init__(self, *, url: str, examples: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.examples = examples

    def runtest(self) -> None:
        from hypothesis import HealthCheck, settings
        from hypothesis.stateful import run_state_machine_as_test

        from slotfsm.testing import store_contract

        machine = store_contract(_factory(self.url))
        run_state_machine_as_test(  # type: ignore[no-untyped-call]
            machine,
            settings=settings(
                max_examples=self.examples,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )

    def reportinfo(self) -> tuple[str, int, str]:
        return self.name, 0, f"slotfsm store contract against {self.url}"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    url = config.getoption("slotfsm_store", None)
    if url:
        from slotfsm.stores._url import redact

        items.append(
            ContractItem.from_parent(
                session,
                name=f"slotfsm-store-contract[{redact(url)}]",
                url=url,
                examples=config.getoption("slotfsm_examples"),
            )
        )
