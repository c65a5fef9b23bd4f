"""The example scripts and the quickstart notebook run top to bottom on small real models."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
THREADS = ["--threads", "1"]


def run_example(
    name: str, *args: object, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python examples/NAME ARGS``; fail with its stderr when it exits non-zero."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def help_entries(help_text: str) -> dict[str, str]:
    """Map each option of an argparse --help output to its help text, joined into one line."""
    entries: dict[str, str] = {}
    option = None
    for line in help_text.splitlines():
        match = re.match(r"^  (--?[\w-]+)", line)
        if match:
            option = match.group(1)
            entries[option] = line
        elif option and line.startswith("   "):
            entries[option] += " " + line.strip()
        else:
            option = None
    return entries


@pytest.mark.parametrize(
    "name", ["completion.py", "chat.py", "streaming.py", "session.py", "mtp_payoff.py"]
)
def test_help_gives_every_default(name: str) -> None:
    # A wide terminal keeps each option's help on few lines.
    result = run_example(name, "--help", env={**os.environ, "COLUMNS": "200"})
    entries = help_entries(result.stdout)
    assert "--threads" in entries
    for option, text in entries.items():
        if option not in ("-h", "--help"):
            assert "default" in text, f"{name} {option}: {text}"


def test_first_generation(gemma_path: str) -> None:
    result = run_example("first_generation.py")
    assert re.search(r"\d+ tokens in [\d.]+ s", result.stdout)


def test_completion_default_model(gemma_path: str) -> None:
    result = run_example("completion.py", *THREADS, "--max-tokens", "8")
    assert result.stdout.startswith("The three primary colors are")
    assert "8 generated" in result.stdout
    assert "MTP: 0 tokens drafted" in result.stdout


def test_completion_mtp_model(oracle_tiny_path: Path) -> None:
    result = run_example(
        "completion.py", "--model", oracle_tiny_path, *THREADS, "--max-tokens", "16"
    )
    assert "16 generated" in result.stdout
    assert re.search(r"MTP: \d+ tokens drafted, \d+ accepted", result.stdout)


def test_chat_default_model(gemma_path: str) -> None:
    result = run_example("chat.py", *THREADS, "--max-tokens", "8")
    assert result.stdout.count("assistant:") == 2
    assert "4 messages in the history" in result.stdout


def test_chat_model_template(tiny_qwen35_path: Path) -> None:
    result = run_example(
        "chat.py",
        "--model",
        tiny_qwen35_path,
        *THREADS,
        "--max-tokens",
        "4",
        "--message",
        "Hi",
        "--message",
        "Bye",
        "--message",
        "Again",
    )
    assert result.stdout.count("assistant:") == 3
    assert "6 messages in the history" in result.stdout


def test_chat_hub_model(tiny_qwen35_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    # The hub cache layout: models--{org}--{name}/snapshots/{revision}, refs/main.
    repo = tmp_path / "hub" / "models--example--tiny-qwen35-gguf"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    shutil.copy(tiny_qwen35_path, repo / "snapshots" / revision / "tiny-F32.gguf")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}

    result = run_example(
        "chat.py",
        "--hf-repo",
        "example/tiny-qwen35-gguf",
        "--hf-file",
        "*F32.gguf",
        *THREADS,
        "--max-tokens",
        "4",
        "--message",
        "Hi",
        env=env,
    )
    assert result.stdout.count("assistant:") == 1
    assert "2 messages in the history" in result.stdout


def test_streaming(oracle_tiny_path: Path) -> None:
    result = run_example(
        "streaming.py",
        "--model",
        oracle_tiny_path,
        *THREADS,
        "--max-tokens",
        "16",
        "--prompt",
        "Stream this:",
    )
    assert result.stdout.startswith("Stream this:")
    assert re.search(r"16 tokens in [\d.]+ s", result.stdout)


def test_session_by_hand() -> None:
    # Without --model the script writes its own tiny oracle model.
    result = run_example("session.py", *THREADS, "--steps", "3")
    assert len(re.findall(r"^step \d: drafted", result.stdout, re.MULTILINE)) == 3
    assert len(re.findall(r"accepted \d of 3", result.stdout)) == 3
    assert "acceptance rate" in result.stdout


def test_mtp_payoff_default_preset() -> None:
    result = run_example(
        "mtp_payoff.py", *THREADS, "--repeats", "1", "--n-tokens", "8", "--depths", "1", "2"
    )
    for mode in ("plain", "MTP 1", "MTP 2", "auto"):
        assert re.search(rf"^{mode} +[\d.]+ +[\d.]+x", result.stdout, re.MULTILINE), mode
    assert re.search(r"MTP (pays|does not pay) off here", result.stdout)


def test_mtp_payoff_given_model(oracle_tiny_path: Path) -> None:
    result = run_example(
        "mtp_payoff.py",
        "--model",
        oracle_tiny_path,
        *THREADS,
        "--repeats",
        "1",
        "--n-tokens",
        "8",
        "--depths",
        "1",
    )
    assert "writing" not in result.stdout
    assert "The automatic depth reached" in result.stdout


def test_quickstart_notebook() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    # Override the parameters cell, as papermill would: one thread, short runs.
    index = next(
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    )
    notebook.cells.insert(
        index + 1, nbformat.v4.new_code_cell("N_THREADS = 1\nMAX_TOKENS = 16\nN_RUNS = 1")
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()

    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "MTP blocks: 1" in text
    assert "same text in every mode: True" in text
    assert re.search(r"MTP, 2 tokens: acceptance rate \d+%", text)
    assert re.search(r"plain: +[\d.]+ tokens/s \(1.00x plain\)", text)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 1
