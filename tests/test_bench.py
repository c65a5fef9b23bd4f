"""Smoke test: the benchmark harness runs end to end on a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_smoke(oracle_tiny_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "results"
    command = [
        sys.executable, "-m", "llamamtp.bench", str(oracle_tiny_path),
        "--programs", "llamamtp", "--depths", "1", "--repeats", "1", "--n-tokens", "8",
        "--threads", "1", "--n-ctx", "256", "--output", str(output),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    table = (output / "results.md").read_text()
    for name in ("llamamtp plain", "llamamtp mtp-1", "llamamtp auto"):
        assert f"| {name} |" in table
    assert "Depths chosen by llamamtp auto" in table

    record = json.loads((output / "results.json").read_text())
    runs = {f"{p['kind']} {p['mode']}": p["runs"] for p in record["programs"]}
    assert len(runs["llamamtp mtp-1"]) == 1
    run = runs["llamamtp mtp-1"][0]
    assert run["n_generated"] == 8
    assert run["decode_tps"] > 0
    assert run["peak_rss_mb"] > 0
    assert record["machine"]["cores"] >= 1


def test_bench_missing_model(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    result = subprocess.run(
        [sys.executable, "-m", "llamamtp.bench", str(missing)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "model file not found" in result.stderr
