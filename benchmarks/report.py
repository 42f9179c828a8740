"""Turning results into the Markdown table (also printed) and the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f}"


def _mark(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return "skipped"
    return "met" if row.get("met") else "**missed**"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the run, met, missed or skipped."""
    out = []
    sections = results["sections"]
    for row in sections.get("operation", {}).get("rows", []):
        out.append({"name": f"{row['store']} book+cancel vs {row['baseline']}",
                    "target": row["target"], "ratio": row.get("ratio"),
                    "met": row.get("met"), "skipped": row.get("skipped")})
    for row in sections.get("scale", {}).get("rows", []):
        if "target" in row:
            name = (f"{row['store']} at {row['slots']:,} slots vs the smallest size"
                    if "slots" in row else f"{row['store']} scale")
            out.append({"name": name, "target": row["target"], "ratio": row.get("ratio"),
                        "met": row.get("met"), "skipped": row.get("skipped")})
    for row in sections.get("memory", {}).get("rows", []):
        if "target" in row:
            out.append({"name": "SlotManager bytes per additional slot (N/2 to N)",
                        "target": row["target"], "ratio": row["bytes_per_slot_second_half"],
                        "met": row["met"], "skipped": None, "unit": "B/slot"})
    return out


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# slotfsm benchmarks",
        "",
        f"Run {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs), Python "
        f"{meta['python']}, mode **{meta['mode']}**, {meta['wall_s']:.0f}s. "
        f"Command: `{meta['command']}`.",
        "",
        "Figures are medians over interleaved repeats (``perf_counter_ns``, warm-up, a full",
        "gc before and gc off during each timed batch, for every contender alike); ratios",
        "are to a baseline measured in the same run. See `benchmarks/README.md`.",
        "",
    ]
    if meta["mode"] == "smoke":
        lines += ["**Smoke run: tiny counts, the figures mean nothing.**", ""]
    lines += ["## Targets", "", "| target | ratio | limit | result |", "|---|---:|---:|---|"]
    for t in targets(results):
        if t.get("skipped"):
            lines.append(f"| {t['name']} | n/a | {t['target']} | skipped: {t['skipped']} |")
            continue
        unit = t.get("unit", "x")
        lines.append(f"| {t['name']} | {t['ratio']:.2f}{unit} | {t['target']}{unit} | "
                     f"{'met' if t['met'] else '**missed**'} |")
    lines.append("")
    sections = results["sections"]
    for key, render in (("deciding", _deciding), ("operation", _operation),
                        ("contention", _contention), ("scale", _scale), ("memory", _memory)):
        sec = sections.get(key)
        if sec is None:
            continue
        lines += [f"## {sec['title']}", ""]
        for note in sec.get("notes", []):
            lines.append(f"> {note}")
        if sec.get("notes"):
            lines.append("")
        if sec.get("status") == "skipped":
            lines += [f"Skipped: {sec.get('reason', '')}", ""]
            continue
        lines += render(sec)
        lines.append("")
    return "\n".join(lines)


def _deciding(sec: dict[str, Any]) -> list[str]:
    out = [f"Ratio to: {sec['baseline']}.", "",
           "| contender | µs/decision (median) | min-max | ratio |", "|---|---:|---:|---:|"]
    for r in sec["rows"]:
        out.append(f"| {r['contender']} | {_us(r['median_ns'])} | "
                   f"{_us(r['min_ns'])}-{_us(r['max_ns'])} | {r['ratio']:.2f}x |")
    return out


def _operation(sec: dict[str, Any]) -> list[str]:
    out = ["| store | µs/op | baseline | baseline µs/op | ratio | target | result |",
           "|---|---:|---|---:|---:|---:|---|"]
    for r in sec["rows"]:
        if "skipped" in r:
            out.append(f"| {r['store']} | | {r['baseline']} | | | {r['target']}x | skipped |")
            continue
        out.append(f"| {r['store']} | {_us(r['slotfsm']['median_ns'])} | {r['baseline']} | "
                   f"{_us(r['baseline_ns']['median_ns'])} | {r['ratio']:.2f}x | "
                   f"{r['target']}x | {_mark(r)} |")
    return out


def _contention(sec: dict[str, Any]) -> list[str]:
    out = ["| store | slots | processes | ops/s | successes | conflicts | errors | "
           "history rows | lost | invariants |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in sec["rows"]:
        if "skipped" in r:
            out.append(f"| {r['store']} | | | | | | | | | skipped |")
            continue
        ok = "ok" if r["invariants_ok"] else f"**FAILED** {'; '.join(r['problems'][:2])}"
        out.append(f"| {r['store']} | {r['slots']:,} | {r['processes']} | {r['ops_per_s']:,.0f} | "
                   f"{r['successes']:,} | {r['conflicts']:,} | {r['errors']} | "
                   f"{r['history_rows']:,} | {r['lost']} | {ok} |")
    return out


def _scale(sec: dict[str, Any]) -> list[str]:
    out = ["| store | slots | µs/op (median) | min-max | ratio to smallest | load s | result |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for r in sec["rows"]:
        if "skipped" in r:
            out.append(f"| {r['store']} | | | | | | skipped |")
            continue
        result = _mark(r) if "target" in r else ""
        out.append(f"| {r['store']} | {r['slots']:,} | {_us(r['median_ns'])} | "
                   f"{_us(r['min_ns'])}-{_us(r['max_ns'])} | {r['ratio']:.2f}x | "
                   f"{r['load_s']:.1f} | {result} |")
    return out


def _memory(sec: dict[str, Any]) -> list[str]:
    out = ["| slots | retained by manager+engine | B/slot | B/slot from N/2 to N | "
           "store's (excluded) | top sites |", "|---:|---:|---:|---:|---:|---|"]
    for r in sec["rows"]:
        sites = ", ".join(f"{w} {b:,} B" for w, b in r["top_sites"][:3])
        out.append(f"| {r['slots']:,} | {r['manager_bytes']:,} B | {r['bytes_per_slot']:.2f} | "
                   f"{r['bytes_per_slot_second_half']:.2f} | {r['store_bytes_excluded']:,} B | "
                   f"{sites} |")
    return out


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = results["sections"]
    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    title = "slotfsm vs baselines"
    if results["meta"]["mode"] == "smoke":
        title += " (SMOKE RUN: figures mean nothing)"
    fig.suptitle(title)

    ax = axes[0][0]
    labels, values, limits = [], [], []
    for r in sections.get("deciding", {}).get("rows", []):
        labels.append(r["contender"].replace(": ", ":\n", 1))
        values.append(r["ratio"])
        limits.append(None)
    for r in sections.get("operation", {}).get("rows", []):
        if "skipped" in r:
            continue
        labels.append(f"{r['store']}\nbook+cancel")
        values.append(r["ratio"])
        limits.append(r["target"])
    if values:
        colors = ["tab:gray" if lim is None else ("tab:green" if v <= lim else "tab:red")
                  for v, lim in zip(values, limits, strict=True)]
        y = range(len(values))
        ax.barh(list(y), values, color=colors)
        for i, lim in enumerate(limits):
            if lim is not None:
                ax.plot([lim, lim], [i - 0.4, i + 0.4], color="black", linewidth=2)
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.5)
        ax.invert_yaxis()
    ax.set_title("Ratio to baseline (log; black tick = target)")

    ax = axes[0][1]
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in sections.get("contention", {}).get("rows", []):
        if "skipped" in r:
            continue
        key = f"{r['store']}, {r['slots']:,} slot{'s' if r['slots'] > 1 else ''}"
        xs, ys = series.setdefault(key, ([], []))
        xs.append(r["processes"])
        ys.append(r["ops_per_s"])
    for key, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", linestyle="--" if " 1 slot" in key else "-", label=key)
    ax.set_xlabel("processes")
    ax.set_ylabel("operations/s")
    ax.set_title("Contention: throughput")
    if series:
        ax.legend(fontsize=7)

    ax = axes[1][0]
    scale_series: dict[str, tuple[list[int], list[float]]] = {}
    for r in sections.get("scale", {}).get("rows", []):
        if "skipped" in r:
            continue
        xs, ys = scale_series.setdefault(r["store"], ([], []))
        xs.append(r["slots"])
        ys.append(r["median_ns"] / 1000)
    for key, (xs, ys) in scale_series.items():
        ax.plot(xs, ys, marker="o", label=key)
    ax.set_xscale("log")
    ax.set_xlabel("slots in the store")
    ax.set_ylabel("µs per operation")
    ax.set_title("Scale: book+cancel on random slots")
    if scale_series:
        ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)

    ax = axes[1][1]
    mem = sections.get("memory", {}).get("rows", [])
    if mem:
        r = mem[0]
        ax.bar(["B/slot (all N)", "B/slot (N/2 to N)"],
               [r["bytes_per_slot"], r["bytes_per_slot_second_half"]],
               color=["tab:blue", "tab:orange"])
        ax.set_title(f"Memory retained by SlotManager over {r['slots']:,} slots")
        ax.set_ylabel("bytes per slot")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
