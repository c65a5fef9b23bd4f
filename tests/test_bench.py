"""The benchmark harness: an end-to-end run on a tiny model, and its per-round ratios."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from llamamtp.bench.harness import Program
from llamamtp.bench.report import paired_ratio


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


def test_paired_ratio_matches_rounds() -> None:
    # Round 1 ran on a slow machine for both programs: the per-round ratios
    # stay 0.9 while the ratio of medians would not.
    reference, program = Program("native", "plain"), Program("llamamtp", "plain")
    for round_, speed in enumerate([10.0, 5.0, 10.0]):
        reference.runs.append({"decode_tps": speed, "round": round_})
        program.runs.append({"decode_tps": 0.9 * speed, "round": round_})
    del program.runs[2]  # a failed run leaves a round without a partner
    assert paired_ratio(program, reference) == pytest.approx(0.9)
    assert paired_ratio(Program("llamamtp", "auto"), reference) is None


SIMULATION = Path(__file__).resolve().parent.parent / "benchmarks" / "depth_simulation.py"


def run_simulation(*args: str) -> str:
    command = [sys.executable, str(SIMULATION), "--texts", "4", "--n-tokens", "64", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_depth_simulation_rejected_drafts_stay_plain() -> None:
    out = run_simulation("--costs", "tiny", "--alpha", "0")
    assert "auto ÷ fastest fixed (plain)" in out
    histogram = json.loads(out.split("steps per depth chosen by auto:")[1])
    assert histogram[0] >= 0.9 * sum(histogram)


def test_depth_simulation_oracle_texts(oracle_tiny_path: Path) -> None:
    out = run_simulation("--costs", "4B", "--oracle", str(oracle_tiny_path))
    for name in ("plain", "1 draft", "4 drafts", "auto"):
        assert f"{name}:" in out


def test_depth_simulation_bad_max_depth() -> None:
    command = [sys.executable, str(SIMULATION), "--max-depth", "9"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2
    assert "--max-depth must be in [1, 4]" in result.stderr
    assert "got 9" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--noise", "nan"], "--noise must be in [0, 1], got nan"),
        (["--alpha", "2"], "--alpha must be in [0, 1], got 2.0"),
        (["--oracle", ".", "--alpha", "0.5"], "no effect with --oracle"),
        (["--oracle", "."], "oracle model not found or not a file: ."),
    ],
)
def test_depth_simulation_bad_arguments(args: list[str], message: str) -> None:
    command = [sys.executable, str(SIMULATION), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def test_depth_simulation_per_text_lines() -> None:
    out = run_simulation("--costs", "tiny", "--alpha", "0", "--per-text")
    lines = [line for line in out.splitlines() if line.startswith("text ")]
    assert len(lines) == 4
    # Every draft is rejected, so plain decoding is each text's fastest fixed depth.
    assert lines[0].startswith("text 0: auto ÷ plain ")
    steps = lines[0].split("depths ")[1]
    assert set(steps) <= set("01234")
    assert len(steps) <= 64


STEP_COSTS = SIMULATION.parent / "step_costs.py"


def run_step_costs(model: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, str(STEP_COSTS), str(model), "--runs", "1", "--n-tokens", "24",
        "--threads", "1", "--n-ctx", "256", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_step_costs_feed_the_simulation(oracle_tiny_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "costs.json"
    result = run_step_costs(oracle_tiny_path, "--max-depth", "2", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert "target pass over 3 tokens:" in result.stdout
    assert "ms after another width" in result.stdout
    costs = json.loads(output.read_text())
    assert len(costs["verify"]) == 3
    assert all(seconds > 0 for seconds in costs["verify"])
    assert len(costs["switch"]) == 3
    assert costs["draft"] > 0
    assert costs["catchup"] > 0
    assert costs["sample"] > 0

    # The file times passes over up to 3 tokens, so the simulation goes up to 2 drafts.
    out = run_simulation("--costs-file", str(output), "--alpha", "0.9")
    assert "2 drafts:" in out
    assert "3 drafts:" not in out
    assert "auto ÷ fastest fixed" in out
    command = [sys.executable, str(SIMULATION), "--costs-file", str(output), "--max-depth", "4"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2
    message = f"--max-depth must be in [1, 2] (the depths that {output} covers), got 4"
    assert message in result.stderr


def test_step_costs_model_without_mtp(tiny_llama_path: Path) -> None:
    result = run_step_costs(tiny_llama_path, "--max-depth", "1")
    assert result.returncode == 2
    assert "has no MTP (NextN) layers" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"verify": [0.1, 0.2]}', "expected the JSON of benchmarks/step_costs.py"),
        ('{"verify": [0.1], "draft": 0.01, "catchup": 0.001, "sample": 0.0001}',
         "verify needs at least 2 positive timings"),
        ("not json", "expected the JSON of benchmarks/step_costs.py"),
        ('{"verify": [0.1, 0.2], "draft": 0.01, "catchup": 0.001, "sample": 0.0001, '
         '"switch": [0.01]}', "switch needs one value in seconds"),
        ('{"verify": [0.1, 0.2], "draft": 0.01, "catchup": 0.001, "sample": 0.0001, '
         '"switch": "12"}', "switch must be a list of seconds"),
        ('{"verify": [0.1, 0.2], "draft": 0.01, "catchup": 0.001, "sample": 0.0001, '
         '"switch": ["a", "b"]}', "switch must be a list of seconds"),
    ],
)  # fmt: skip
def test_depth_simulation_bad_costs_file(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "costs.json"
    path.write_text(content)
    command = [sys.executable, str(SIMULATION), "--costs-file", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2
    assert f"cannot read --costs-file {path}: {message}" in result.stderr


def test_simulation_charges_a_change_of_width() -> None:
    spec = importlib.util.spec_from_file_location("depth_simulation", SIMULATION)
    simulation = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = simulation
    spec.loader.exec_module(simulation)
    costs = simulation.StepCosts(verify=(0.01, 0.02, 0.03), draft=0.0, catchup=0.0, sample=0.0,
                                 switch=(0.005, 0.0, 0.0))  # fmt: skip
    rate, depths = simulation.simulate(2, set(), 10, costs, 0.0, random.Random(0), 2)
    # Three passes over 3 tokens, the first slow as after loading the model,
    # then one token is left: a plain pass right after passes of another width.
    assert depths == [2, 2, 2, 0]
    assert 10 / rate == pytest.approx(1.3 * 0.03 + 2 * 0.03 + 0.01 + 0.005)
