"""Section 1, deciding: one lifecycle decision, no storage.

Every contender decides ``book`` from ``available`` then ``cancel`` from ``booked``; the
figure is per decision (half a pair).
"""

from __future__ import annotations

from typing import Any

from slotfsm import SLOT_LIFECYCLE
from slotfsm._records import Slot

from ._common import STATES, TRANSITIONS, Context, section
from ._timing import Batch, log, measure, summary

BASELINE = "transitions: bare trigger on a probe"


class _Probe:
    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def transitions_machine() -> Any:
    """The same 3-state machine as slotfsm's engine: shared, model-less, no auto transitions."""
    from transitions import Machine

    return Machine(
        model=None,
        states=STATES,
        initial="available",
        transitions=[{"trigger": e, "source": s, "dest": d} for e, s, d in TRANSITIONS],
        auto_transitions=False,
        send_event=True,
    )


def transitions_pair() -> Batch:
    """Book then cancel, each a trigger on a fresh probe (the state comes from storage)."""
    events = transitions_machine().events
    book, cancel = events["book"], events["cancel"]

    def run(n: int) -> None:
        for _ in range(n):
            probe = _Probe("available")
            book.trigger(probe)
            probe = _Probe("booked")
            cancel.trigger(probe)
        assert probe.state == "available"

    return run


def _statemachine_pair() -> Batch:
    from statemachine import State, StateMachine

    class SlotMachine(StateMachine):  # type: ignore[misc]
        available = State(initial=True)
        booked = State()
        in_use = State()
        book = available.to(booked)
        cancel = booked.to(available)
        complete = booked.to(available)
        start = available.to(in_use)
        stop = in_use.to(available)

    sm = SlotMachine()
    send = sm.send

    def run(n: int) -> None:
        for _ in range(n):
            send("book")
            send("cancel")

    return run


def _dict_pair() -> Batch:
    table = {(s, e): d for e, s, d in TRANSITIONS}

    def allowed(*, slot: Slot, user: str, event: str) -> bool:
        return True

    slot_a = Slot("A1", "available", 1)
    slot_b = Slot("A1", "booked", 2)

    def decide(state: str, event: str, slot: Slot) -> str:
        target = table.get((state, event))
        if target is None or not allowed(slot=slot, user="u1", event=event):
            raise LookupError(event)
        return target

    def run(n: int) -> None:
        for _ in range(n):
            decide("available", "book", slot_a)
            decide("booked", "cancel", slot_b)

    return run


def _choose_pair() -> Batch:
    choose = SLOT_LIFECYCLE.engine.choose

    def run(n: int) -> None:
        for _ in range(n):
            choose("available", "book", {})
            choose("booked", "cancel", {})

    return run


def _decide_pair() -> Batch:
    decide = SLOT_LIFECYCLE.engine.decide
    from slotfsm._ids import new_record_id

    available = Slot("A1", "available", 1)
    booked = Slot("A1", "booked", 2)

    def run(n: int) -> None:
        for _ in range(n):
            decide("book", slot_id="A1", slot=available, user="u1", at=0.0,
                   new_id=new_record_id)
            decide("cancel", slot_id="A1", slot=booked, user="u1", at=0.0,
                   new_id=new_record_id)

    return run


def run(ctx: Context) -> dict[str, Any]:
    result = section("Deciding: one lifecycle decision (per decision)", baseline=BASELINE)
    contenders = {
        "slotfsm: Engine.decide (whole Change)": _decide_pair(),
        "slotfsm: Engine.choose": _choose_pair(),
        BASELINE: transitions_pair(),
        "python-statemachine 3: send to an instance": _statemachine_pair(),
        "hand-written dict + guard call": _dict_pair(),
    }
    c = ctx.counts
    log(f"deciding: {len(contenders)} contenders x {c.decide_repeats} repeats x {c.decide_n}")
    samples = measure(contenders, n=c.decide_n, repeats=c.decide_repeats,
                      warmup=max(10, c.decide_n // 10))
    base = summary(samples[BASELINE])["median_ns"] / 2
    for name, values in samples.items():
        s = summary([v / 2 for v in values])
        result["rows"].append({"contender": name, **s, "ratio": s["median_ns"] / base})
    return result
