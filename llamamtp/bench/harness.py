"""The programs a benchmark compares and the interleaved loop that runs them."""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("llamamtp")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOOLS_DIR = ROOT / "build" / "cmake" / "bin"
DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
PROGRAM_KINDS = ("native", "llamamtp", "llama-cpp-python")

_ENCODED = re.compile(r"encoded\s+(\d+) tokens in\s+([\d.]+) seconds")
_DECODED = re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds")
_DRAFTED = re.compile(r"n_drafted\s*=\s*(\d+)")
_ACCEPTED = re.compile(r"n_accept\s*=\s*(\d+)")


@dataclass(frozen=True)
class BenchConfig:
    """Settings every program in one benchmark shares.

    Attributes:
        model: the GGUF file.
        n_tokens: tokens generated per run.
        threads: CPU threads for every program.
        repeats: runs per program, interleaved.
        prompt: prompt text (llama-bench uses random tokens of the same count).
        n_ctx: context length in tokens.
        tools_dir: where ``python build.py --tools`` put llama-bench and friends.
        llama_cpp_python: interpreter that has llama-cpp-python installed.
        draft_n_max: the deepest draft llamamtp's ``auto`` may choose.
    """

    model: Path
    n_tokens: int = 64
    threads: int = 2
    repeats: int = 5
    prompt: str = DEFAULT_PROMPT
    n_ctx: int = 2048
    tools_dir: Path = DEFAULT_TOOLS_DIR
    llama_cpp_python: str = sys.executable
    draft_n_max: int = 4


@dataclass
class Program:
    """One thing to measure: a library, a mode (plain, mtp-K, auto) and its runs."""

    kind: str
    mode: str
    runs: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.kind} {self.mode}"

    def median(self, key: str) -> float | None:
        values = [run[key] for run in self.runs if run.get(key) is not None]
        return statistics.median(values) if values else None

    def spread(self, key: str) -> tuple[float, float] | None:
        values = [run[key] for run in self.runs if run.get(key) is not None]
        return (min(values), max(values)) if values else None


def _run_process(command: list[str]) -> tuple[str, str, float]:
    """Run a command; return its stdout, its stderr and its own peak resident memory in MB."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        # wait4 reaps this child alone and reports its own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(
            f"benchmark command failed with exit status {process.returncode}: "
            f"{' '.join(command)}\n{(stdout + stderr)[-2000:]}"
        )
    # Linux reports ru_maxrss in KiB.
    return stdout, stderr, usage.ru_maxrss / 1024


def _native_plain(config: BenchConfig, n_prompt: int) -> dict:
    command = [
        str(config.tools_dir / "llama-bench"), "-m", str(config.model),
        "-p", str(n_prompt), "-n", str(config.n_tokens), "-t", str(config.threads),
        "-r", "1", "-o", "json",
    ]  # fmt: skip
    stdout, _, peak = _run_process(command)
    tests = json.loads(stdout)
    prompt = next((t for t in tests if t["n_prompt"] > 0 and t["n_gen"] == 0), None)
    decode = next(t for t in tests if t["n_gen"] > 0)
    return {
        "decode_tps": float(decode["avg_ts"]),
        "prompt_tps": float(prompt["avg_ts"]) if prompt else None,
        "peak_rss_mb": peak,
    }


def _native_mtp(config: BenchConfig, n_draft: int) -> dict:
    command = [
        str(config.tools_dir / "llama-speculative-simple"), "-m", str(config.model),
        "--spec-type", "draft-mtp", "--spec-draft-n-max", str(n_draft),
        "-p", config.prompt, "-n", str(config.n_tokens), "-c", str(config.n_ctx),
        "-t", str(config.threads), "--temp", "0", "--seed", "1",
    ]  # fmt: skip
    stdout, stderr, peak = _run_process(command)
    log = stdout + stderr
    decoded = _DECODED.search(log)
    encoded = _ENCODED.search(log)
    if decoded is None:
        raise RuntimeError(f"no 'decoded ... tokens' line from: {' '.join(command)}")
    drafted = int(_DRAFTED.search(log)[1])
    accepted = int(_ACCEPTED.search(log)[1])
    return {
        "decode_tps": int(decoded[1]) / float(decoded[2]),
        "prompt_tps": int(encoded[1]) / float(encoded[2]) if encoded else None,
        "n_drafted": drafted,
        "n_accepted": accepted,
        "peak_rss_mb": peak,
    }


def _worker(config: BenchConfig, library: str, draft: str, python: str) -> dict:
    # Run by path: another interpreter (llama-cpp-python's) may lack llamamtp's dependencies.
    command = [
        python, str(Path(__file__).with_name("worker.py")), library, "--model", str(config.model),
        "--draft", draft, "--prompt", config.prompt, "--n-tokens", str(config.n_tokens),
        "--n-ctx", str(config.n_ctx), "--threads", str(config.threads),
    ]  # fmt: skip
    if draft == "auto":
        command += ["--draft-n-max", str(config.draft_n_max)]
    stdout, _, peak = _run_process(command)
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    return result


def llama_cpp_python_available(python: str) -> bool:
    result = subprocess.run([python, "-c", "import llama_cpp"], capture_output=True, check=False)
    return result.returncode == 0


def programs_for(
    config: BenchConfig,
    depths: list[int],
    kinds: tuple[str, ...] = PROGRAM_KINDS,
    auto: bool = True,
) -> list[Program]:
    """Return the programs to compare: plain and each MTP depth per library, and ``auto``."""
    programs = []
    modes = ["plain"] + [f"mtp-{depth}" for depth in depths]
    if "native" in kinds:
        missing = [
            tool
            for tool in ("llama-bench", "llama-speculative-simple")
            if not (config.tools_dir / tool).is_file()
        ]
        if missing:
            logger.warning(
                "skipping native llama.cpp: %s not found in %s; run 'python build.py --tools'",
                ", ".join(missing),
                config.tools_dir,
            )
        else:
            programs += [Program("native", mode) for mode in modes]
    if "llamamtp" in kinds:
        programs += [Program("llamamtp", mode) for mode in modes]
        if auto:
            programs.append(Program("llamamtp", "auto"))
    if "llama-cpp-python" in kinds:
        if llama_cpp_python_available(config.llama_cpp_python):
            programs.append(Program("llama-cpp-python", "plain"))
        else:
            logger.warning(
                "skipping llama-cpp-python: it is not installed for %s "
                "(pip install llama-cpp-python, or pass its interpreter)",
                config.llama_cpp_python,
            )
    return programs


def run_once(config: BenchConfig, program: Program, n_prompt: int) -> dict:
    """Measure one run of a program."""
    depth = program.mode.removeprefix("mtp-")
    if program.kind == "native":
        if program.mode == "plain":
            return _native_plain(config, n_prompt)
        return _native_mtp(config, int(depth))
    if program.kind == "llamamtp":
        draft = {"plain": "0", "auto": "auto"}.get(program.mode, depth)
        return _worker(config, "llamamtp", draft, sys.executable)
    return _worker(config, "llama-cpp-python", "0", config.llama_cpp_python)


def run_benchmark(
    config: BenchConfig,
    programs: list[Program],
    progress: Callable[[str], None] | None = None,
) -> list[Program]:
    """Run every program ``config.repeats`` times, interleaved; returns them with their runs.

    Each round runs the programs in a rotated order, so a slow drift of the
    machine affects every program alike.
    """
    import llamamtp

    with llamamtp.Model(config.model, vocab_only=True) as model:
        n_prompt = len(model.vocab.tokenize(config.prompt, add_special=True, parse_special=True))

    for repeat in range(config.repeats):
        shift = repeat % len(programs)
        for program in programs[shift:] + programs[:shift]:
            if progress is not None:
                progress(f"round {repeat + 1}/{config.repeats}: {program.name}")
            try:
                run = run_once(config, program, n_prompt)
                run["round"] = repeat
                program.runs.append(run)
            except RuntimeError as error:
                # One failing program must not lose the other programs' runs.
                logger.error("%s failed in round %d: %s", program.name, repeat + 1, error)
                program.failures.append(str(error))
    return programs
