"""Bulk loading PostgresStore's tables with COPY (schema ``public``, prefix ``slotfsm_``)."""

from __future__ import annotations

from typing import Any

import psycopg

SLOTS = "slotfsm_slots"
HISTORY = "slotfsm_history"


def load(url: str, ids: list[str], at: float) -> None:
    """The rows ``add_slot`` writes: the slot at version 1 and its creation history row."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {SLOTS} (id, status, version) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, "available", 1))
        with cur.copy(f"COPY {HISTORY} (slot_id, version, event, source, target, actor, at, "
                      "ref, override) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, 1, "create", None, "available", None, at, None, False))
        conn.commit()
        # Fresh statistics, as a database that grew slowly would have them.
        conn.autocommit = True
        cur.execute(f"ANALYZE {SLOTS}")
        cur.execute(f"ANALYZE {HISTORY}")


def rows(url: str, slot_id: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            "slots": conn.execute("SELECT * FROM slotfsm_slots WHERE id = %s",
                                  (slot_id,)).fetchall(),
            "history": conn.execute("SELECT * FROM slotfsm_history WHERE slot_id = %s",
                                    (slot_id,)).fetchall(),
            "records": conn.execute("SELECT * FROM slotfsm_records WHERE slot_id = %s",
                                    (slot_id,)).fetchall(),
        }
