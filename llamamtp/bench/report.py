"""Turn benchmark runs into a markdown table, a JSON record and a PNG plot."""

from __future__ import annotations

import json
import logging
import platform
from dataclasses import asdict
from pathlib import Path

from llamamtp.bench.harness import BenchConfig, Program

logger = logging.getLogger("llamamtp")


def _cell(program: Program, key: str, digits: int = 1) -> str:
    median = program.median(key)
    if median is None:
        return "–"
    low, high = program.spread(key)
    if len(program.runs) == 1 or low == high:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def _acceptance(program: Program) -> tuple[str, str]:
    drafted = sum(run.get("n_drafted") or 0 for run in program.runs)
    accepted = sum(run.get("n_accepted") or 0 for run in program.runs)
    steps = sum(run.get("n_steps") or 0 for run in program.runs)
    if drafted == 0:
        return "–", "–"
    rate = f"{accepted / drafted:.2f}"
    length = f"{accepted / steps:.2f}" if steps else "–"
    return rate, length


def _native_match(programs: list[Program], program: Program) -> Program | None:
    mode = "plain" if program.mode in ("plain", "auto") else program.mode
    for other in programs:
        if other.kind == "native" and other.mode == mode and other.runs:
            return other
    return None


def paired_ratio(program: Program, reference: Program) -> float | None:
    """Return the median over rounds of program's decode tokens/s ÷ reference's in that round.

    Runs of one round ran minutes apart at most, so a slow drift of the
    machine cancels out of each ratio. The ratio of medians keeps that drift.
    """
    by_round = {run.get("round"): run.get("decode_tps") for run in reference.runs}
    ratios = sorted(
        run["decode_tps"] / by_round[run.get("round")]
        for run in program.runs
        if run.get("decode_tps") and by_round.get(run.get("round"))
    )
    if not ratios:
        return None
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def paired_ratios(programs: list[Program]) -> list[str]:
    """Return lines with the per-round ratios: llamamtp ÷ native, auto ÷ the fastest fixed row."""
    lines = []
    for program in programs:
        native = _native_match(programs, program)
        if program.kind == "llamamtp" and native is not None:
            ratio = paired_ratio(program, native)
            if ratio is not None:
                lines.append(f"- {program.name} ÷ {native.name}: {ratio:.3f}")
    fixed = [
        p for p in programs if p.kind == "llamamtp" and p.mode != "auto" and p.median("decode_tps")
    ]
    auto = next((p for p in programs if p.kind == "llamamtp" and p.mode == "auto"), None)
    if fixed and auto is not None:
        best = max(fixed, key=lambda p: p.median("decode_tps"))
        ratio = paired_ratio(auto, best)
        if ratio is not None:
            lines.append(f"- {auto.name} ÷ {best.name} (the fastest fixed row): {ratio:.3f}")
    return lines


def depth_histogram(programs: list[Program]) -> list[int] | None:
    """Steps per depth that llamamtp's ``auto`` chose, summed over its runs."""
    for program in programs:
        if program.kind == "llamamtp" and program.mode == "auto":
            histograms = [
                run["depth_histogram"] for run in program.runs if run.get("depth_histogram")
            ]
            if histograms:
                return [sum(column) for column in zip(*histograms, strict=True)]
    return None


def markdown_table(programs: list[Program]) -> str:
    """Return a table with one row per program: medians (min–max) and the ratio to native.

    ``auto`` is compared with native plain decoding.
    """
    lines = [
        "| program | decode tokens/s | prompt tokens/s | time to first token (s) | "
        "acceptance | accepted per step | peak RSS (MB) | ÷ native |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for program in programs:
        native = _native_match(programs, program)
        ratio = "–"
        if native is not None and program.median("decode_tps") and native.median("decode_tps"):
            ratio = f"{program.median('decode_tps') / native.median('decode_tps'):.3f}"
        rate, length = _acceptance(program)
        lines.append(
            f"| {program.name} | {_cell(program, 'decode_tps')} | {_cell(program, 'prompt_tps')} | "
            f"{_cell(program, 'ttft_s', 3)} | {rate} | {length} | "
            f"{_cell(program, 'peak_rss_mb', 0)} | {ratio} |"
        )
    for program in programs:
        if program.failures:
            first_line = program.failures[0].splitlines()[0]
            lines.append("")
            lines.append(f"{program.name}: {len(program.failures)} failed runs ({first_line})")
    ratios = paired_ratios(programs)
    if ratios:
        lines.append("")
        lines.append("Median of per-round ratios of decode tokens/s:")
        lines.append("")
        lines.extend(ratios)
    histogram = depth_histogram(programs)
    if histogram is not None:
        shares = ", ".join(f"{depth}: {count}" for depth, count in enumerate(histogram))
        lines.append("")
        lines.append(f"Depths chosen by llamamtp auto (steps per depth): {shares}")
    return "\n".join(lines)


def machine_description() -> dict:
    """CPU model, core count and memory of this machine."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory_gb = round(total_kb / 1024 / 1024, 1)
    import os

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb}


def write_json(path: Path, config: BenchConfig, programs: list[Program]) -> None:
    record = {
        "config": {key: str(value) for key, value in asdict(config).items()},
        "machine": machine_description(),
        "programs": [{"kind": p.kind, "mode": p.mode, "runs": p.runs} for p in programs],
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def write_plot(path: Path, programs: list[Program], title: str) -> bool:
    """Bar chart of decode tokens/s (median, with min–max); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed, so no plot was written")
        return False

    measured = [p for p in programs if p.median("decode_tps") is not None]
    names = [p.name for p in measured]
    medians = [p.median("decode_tps") for p in measured]
    lows = [m - p.spread("decode_tps")[0] for m, p in zip(medians, measured, strict=True)]
    highs = [p.spread("decode_tps")[1] - m for m, p in zip(medians, measured, strict=True)]
    colors = {"native": "tab:gray", "llamamtp": "tab:blue", "llama-cpp-python": "tab:orange"}

    figure, axes = plt.subplots(figsize=(max(6, 0.7 * len(names)), 4))
    axes.bar(names, medians, yerr=[lows, highs], capsize=3,
             color=[colors.get(p.kind, "tab:green") for p in measured])  # fmt: skip
    axes.set_ylabel("decode tokens/s")
    axes.set_title(title)
    axes.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
