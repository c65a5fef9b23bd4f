"""The llamamtp command line, driven as a user drives it: a subprocess with arguments and stdin."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llamamtp import Llama, __version__
from llamamtp.cli import COMMANDS

PROMPT = "The weather today is"
# Threads and context of every generating command: small and repeatable on 2 cores.
SMALL = ["--threads", "1", "--n-ctx", "512"]
GREEDY = ["--temp", "0"]


def run_cli(
    *args: object, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``python -m llamamtp ARGS`` and return the finished process (text mode)."""
    return subprocess.run(
        [sys.executable, "-m", "llamamtp", *map(str, args)],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


def interrupt_after_output(args: list[object], stdin: bytes | None = None):
    """Start the CLI, send Ctrl-C (SIGINT) once it has printed text, and wait for it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "llamamtp", *map(str, args)],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if stdin is not None:
            process.stdin.write(stdin)
            process.stdin.flush()
        # os.read, not the buffered reader: communicate() reads the pipe's file descriptor
        # directly and would miss bytes left in the reader's buffer.
        first = os.read(process.stdout.fileno(), 256)
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, (first + rest).decode("utf-8", errors="replace"), stderr.decode()


# Top level


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"llamamtp {__version__}"


def test_missing_command() -> None:
    assert_one_line_error(run_cli(), 2, "the following arguments are required: COMMAND")


def test_unknown_command() -> None:
    assert_one_line_error(run_cli("serve"), 2, "invalid choice: 'serve'")


def test_unknown_top_level_option() -> None:
    result = run_cli("--bogus")
    assert_one_line_error(result, 2, "llamamtp: error: unrecognized arguments: --bogus")
    assert "(see 'llamamtp --help')" in result.stderr


def test_unknown_option_before_command() -> None:
    result = run_cli("--bogus", "info")
    assert_one_line_error(result, 2, "llamamtp: error: unrecognized arguments: --bogus")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_help(name: str) -> None:
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: llamamtp {name}")


def _option_actions(parser: argparse.ArgumentParser):
    """Yield (parser, action) for every option of a parser and of its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _option_actions(sub)
        elif action.option_strings:
            yield parser, action


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_gives_every_default(name: str) -> None:
    import importlib

    module = importlib.import_module(f"llamamtp.cli.{name}")
    flags = (argparse._StoreTrueAction, argparse._HelpAction, argparse._VersionAction)
    for parser, action in _option_actions(module.build_parser(f"llamamtp {name}")):
        assert action.help, f"{parser.prog} {action.option_strings} has no help"
        if not isinstance(action, flags):
            assert "default" in action.help, f"{parser.prog} {action.option_strings}"


# Errors


@pytest.mark.parametrize("name", ["generate", "chat", "info"])
def test_missing_model_file(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    result = (
        run_cli(name, missing, "--prompt", PROMPT) if name == "generate" else run_cli(name, missing)
    )
    assert_one_line_error(result, 2, f"model file not found: {missing}")


def test_model_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("not a model\n")
    assert_one_line_error(run_cli("generate", path, "-p", PROMPT), 1, "not a GGUF file")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_unknown_option(name: str) -> None:
    # bench and synthetic report a missing positional argument before an unknown option.
    positional = {"bench": ["model.gguf"], "synthetic": ["tiny", "model.gguf"]}
    result = run_cli(name, *positional.get(name, []), "--bogus")
    assert_one_line_error(result, 2, "unrecognized arguments: --bogus")
    assert f"llamamtp {name}" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--temp", "warm", "argument --temp: not a number: 'warm'"),
        ("--temp", "-1", "argument --temp: must be >= 0"),
        ("--top-p", "1.5", "argument --top-p: must be [0, 1]"),
        ("--draft-n-max", "99", "argument --draft-n-max: must be from 1 to 16"),
        ("--draft", "always", "argument --draft: invalid choice: 'always'"),
        ("--n-ctx", "-5", "argument -c/--n-ctx: must be at least 0"),
        ("--threads", "two", "argument -t/--threads: not an integer: 'two'"),
    ],
)
def test_bad_value(oracle_tiny_path: Path, option: str, value: str, message: str) -> None:
    result = run_cli("generate", oracle_tiny_path, "-p", PROMPT, option, value)
    assert_one_line_error(result, 2, message)


@pytest.mark.parametrize("n_batch", ["2", "4"])
def test_batch_too_small_for_draft(oracle_tiny_path: Path, n_batch: str) -> None:
    result = run_cli("generate", oracle_tiny_path, "-p", PROMPT, "-b", n_batch)
    assert_one_line_error(result, 2, f"--n-batch {n_batch} is too small to verify drafts")
    assert "--draft-n-max 3" in result.stderr
    assert "must be at least 5" in result.stderr
    assert "--draft off" in result.stderr
    assert "n_ubatch" not in result.stderr
    assert "(see 'llamamtp generate --help')" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-b", "2", "--draft", "off"],
        ["-b", "3", "--draft-n-max", "1"],
        ["-b", "5"],
        ["-b", "5", "--draft", "mtp"],
    ],
)
def test_small_batch_that_fits_runs(oracle_tiny_path: Path, args: list[str]) -> None:
    result = _generate(oracle_tiny_path, "-q", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_small_batch_without_mtp_head(gemma_path: str) -> None:
    # A model that cannot draft decodes plainly, whatever the batch size.
    result = run_cli("generate", gemma_path, "-p", PROMPT, "-n", "4", "-b", "2", *SMALL, "-q")
    assert result.returncode == 0, result.stderr


def test_hf_repo_without_file() -> None:
    result = run_cli("generate", "--hf-repo", "example/tiny-gguf", "-p", PROMPT)
    assert_one_line_error(result, 2, "--hf-repo needs --hf-file")


def test_prompt_longer_than_context(oracle_tiny_path: Path, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(" ".join(f"word{i}" for i in range(400)))
    result = run_cli("generate", oracle_tiny_path, "-f", prompt, "--n-ctx", "256", "-t", "1")
    assert_one_line_error(result, 1, "does not fit in the context of 256 tokens")


# generate


def _generate(model: Path, *args: object, **kwargs) -> subprocess.CompletedProcess:
    return run_cli("generate", model, "-p", PROMPT, "-n", "24", *SMALL, *GREEDY, *args, **kwargs)


def test_generate_streams_text_and_stats(oracle_tiny_path: Path) -> None:
    result = _generate(oracle_tiny_path, "--draft", "mtp")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert re.search(r"generated: 24 tokens in [\d.]+ s \([\d.]+ tokens/s\)", result.stderr)
    assert "MTP: 3 draft tokens per step" in result.stderr
    assert re.search(r"drafts: \d+ tokens drafted, \d+ accepted", result.stderr)


def test_generate_same_text_every_draft_mode(oracle_tiny_path: Path) -> None:
    texts = {
        mode: _generate(oracle_tiny_path, "--draft", mode, "-q") for mode in ("off", "mtp", "auto")
    }
    for mode, result in texts.items():
        assert result.returncode == 0, f"{mode}: {result.stderr}"
    assert texts["mtp"].stdout == texts["off"].stdout
    assert texts["auto"].stdout == texts["off"].stdout


def test_generate_matches_library(oracle_tiny_path: Path) -> None:
    result = _generate(oracle_tiny_path, "-q")
    with Llama(oracle_tiny_path, n_ctx=512, n_threads=1, verbose=False) as llm:
        expected = llm(PROMPT, max_tokens=24, temperature=0)["choices"][0]["text"]
    assert result.stdout == expected + "\n"


def test_generate_quiet_prints_only_text(oracle_tiny_path: Path) -> None:
    result = _generate(oracle_tiny_path, "--quiet")
    assert result.returncode == 0
    assert result.stdout.strip()
    assert result.stderr == ""


def test_generate_seed_repeats_sampling(tiny_qwen35_path: Path) -> None:
    args = ["generate", tiny_qwen35_path, "-p", PROMPT, "-n", "16", *SMALL, "--temp", "1.5"]
    first = run_cli(*args, "--seed", "7", "-q")
    second = run_cli(*args, "--seed", "7", "-q")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


def test_generate_echo(oracle_tiny_path: Path) -> None:
    result = _generate(oracle_tiny_path, "--echo", "-q")
    assert result.stdout.startswith(PROMPT)
    assert len(result.stdout.strip()) > len(PROMPT)


def test_generate_prompt_from_stdin_and_file(oracle_tiny_path: Path, tmp_path: Path) -> None:
    expected = _generate(oracle_tiny_path, "-q").stdout
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    args = ["generate", oracle_tiny_path, "-n", "24", *SMALL, *GREEDY, "-q"]
    from_file = run_cli(*args, "-f", prompt_file)
    from_stdin = run_cli(*args, stdin=PROMPT)
    assert from_file.stdout == expected
    assert from_stdin.stdout == expected


def test_generate_missing_prompt_file(oracle_tiny_path: Path, tmp_path: Path) -> None:
    result = run_cli("generate", oracle_tiny_path, "-f", tmp_path / "nothing.txt")
    assert_one_line_error(result, 2, "prompt file not found")


def test_generate_stop_string(oracle_tiny_path: Path) -> None:
    full = _generate(oracle_tiny_path, "-q").stdout
    words = full.split()
    stop = words[3]
    result = _generate(oracle_tiny_path, "-q", "--stop", stop)
    assert result.returncode == 0
    assert result.stdout == full[: full.index(stop)] + "\n"
    assert stop not in result.stdout


def test_generate_long_prompt_shows_progress(tiny_qwen35_path: Path, tmp_path: Path) -> None:
    text = " ".join(f"word{i}" for i in range(150))
    prompt = tmp_path / "long.txt"
    prompt.write_text(text)
    result = run_cli(
        "generate", tiny_qwen35_path, "-f", prompt, "-n", "12", "--n-batch", "64", *SMALL, *GREEDY
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"prompt:\s+\d+%\|.*tok", result.stderr)
    with Llama(
        tiny_qwen35_path, n_ctx=512, n_batch=64, n_ubatch=64, n_threads=1, verbose=False
    ) as llm:
        expected = llm(text, max_tokens=12, temperature=0)["choices"][0]["text"]
        n_prompt = len(llm.session.tokens) - 12
    assert result.stdout == expected + "\n"
    # The prompt was decoded once: by the CLI's batches, then reused whole.
    assert f"prompt: {n_prompt} tokens, {n_prompt - 1} decoded" in result.stderr


def test_generate_ctrl_c_prints_partial_output(oracle_tiny_path: Path) -> None:
    code, stdout, stderr = interrupt_after_output(
        [
            "generate",
            oracle_tiny_path,
            "-p",
            PROMPT,
            "-n",
            "-1",
            "--n-ctx",
            "4096",
            "-t",
            "1",
            *GREEDY,
        ]
    )
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stdout.strip()
    assert "interrupted: generation stopped by Ctrl-C" in stderr
    assert "finish reason: interrupted" in stderr
    generated = int(re.search(r"generated: (\d+) tokens?", stderr).group(1))
    assert 0 < generated < 4096


def test_generate_hub_offline(oracle_tiny_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    # The hub cache layout: models--{org}--{name}/snapshots/{revision}, refs/main.
    repo = tmp_path / "hub" / "models--example--tiny-gguf"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    shutil.copy(oracle_tiny_path, repo / "snapshots" / revision / "oracle-F32.gguf")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}

    expected = _generate(oracle_tiny_path, "-q").stdout
    args = [
        "generate",
        "--hf-repo",
        "example/tiny-gguf",
        "-p",
        PROMPT,
        "-n",
        "24",
        *SMALL,
        *GREEDY,
        "-q",
    ]
    result = run_cli(*args, "--hf-file", "*F32.gguf", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected

    missing = run_cli(*args, "--hf-file", "*Q8_0.gguf", env=env)
    assert_one_line_error(missing, 1, "no file in 'example/tiny-gguf' matches '*Q8_0.gguf'")


# chat


def _chat(model: Path, lines: list[str], *args: object) -> subprocess.CompletedProcess:
    return run_cli(
        "chat",
        model,
        "-n",
        "8",
        *SMALL,
        *GREEDY,
        *args,
        stdin="".join(line + "\n" for line in lines),
    )


def _reply_summaries(stderr: str) -> list[tuple[int, int]]:
    """(prompt tokens, reply tokens) of every reply summary line."""
    pattern = r"\[prompt: (\d+) tokens?, \d+ decoded; reply: (\d+) tokens?"
    return [(int(a), int(b)) for a, b in re.findall(pattern, stderr)]


def test_chat_replies_to_each_line(oracle_tiny_path: Path) -> None:
    result = _chat(oracle_tiny_path, ["Hello", "", "How are you?"])
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 2
    assert len(_reply_summaries(result.stderr)) == 2
    assert "chat: 2 replies" in result.stderr


def test_chat_counts_one_reply(oracle_tiny_path: Path) -> None:
    result = _chat(oracle_tiny_path, ["Hello"])
    assert result.returncode == 0, result.stderr
    assert "chat: 1 reply\n" in result.stderr


def test_chat_keeps_history(oracle_tiny_path: Path) -> None:
    result = _chat(oracle_tiny_path, ["Hello", "Hello"])
    (first_prompt, first_reply), (second_prompt, _) = _reply_summaries(result.stderr)
    # The second prompt contains the first message, the reply and the new message.
    assert second_prompt > first_prompt + first_reply


def test_chat_reset_clears_history(oracle_tiny_path: Path) -> None:
    result = _chat(oracle_tiny_path, ["Hello", "/reset", "Hello"])
    assert "history cleared" in result.stderr
    (first_prompt, _), (second_prompt, _) = _reply_summaries(result.stderr)
    assert second_prompt == first_prompt
    lines = result.stdout.splitlines()
    assert lines[0] == lines[1]


def test_chat_exit_command(oracle_tiny_path: Path) -> None:
    result = _chat(oracle_tiny_path, ["Hello", "/exit", "Never answered"])
    assert result.returncode == 0
    assert "chat: 1 reply" in result.stderr


def test_chat_unknown_command(oracle_tiny_path: Path) -> None:
    result = _chat(oracle_tiny_path, ["/bogus"])
    assert result.returncode == 0
    assert "unknown command /bogus" in result.stderr
    assert "chat: 0 replies" in result.stderr


def test_chat_system_message(oracle_tiny_path: Path) -> None:
    plain = _reply_summaries(_chat(oracle_tiny_path, ["Hello"]).stderr)
    with_system = _reply_summaries(
        _chat(oracle_tiny_path, ["Hello"], "--system", "Answer in one word.").stderr
    )
    assert with_system[0][0] > plain[0][0]


def test_chat_needs_template(gemma_path: str) -> None:
    result = _chat(Path(gemma_path), ["Hello"])
    assert_one_line_error(result, 2, "the model has no chat template; pass --chat-format")


def test_chat_builtin_template(gemma_path: str) -> None:
    result = _chat(Path(gemma_path), ["Hello"], "--chat-format", "gemma")
    assert result.returncode == 0, result.stderr
    assert "MTP: off (the model has no MTP head)" in result.stderr


def test_chat_ctrl_c_prints_statistics(oracle_tiny_path: Path) -> None:
    code, stdout, stderr = interrupt_after_output(
        ["chat", oracle_tiny_path, "-n", "-1", "--n-ctx", "4096", "-t", "1", *GREEDY],
        stdin=b"Hello\n",
    )
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stdout.strip()
    assert "interrupted: reply stopped by Ctrl-C" in stderr
    assert "chat: 1 reply" in stderr


# info


def test_info_without_model() -> None:
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert f"llamamtp:         {__version__}" in result.stdout
    assert re.search(r"backends: +.*CPU", result.stdout)
    assert "llama.cpp commit:" in result.stdout


def test_info_model_with_mtp(oracle_tiny_path: Path) -> None:
    result = run_cli("info", oracle_tiny_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"MTP head: +yes, 1 NextN block", result.stdout)
    assert re.search(r"architecture: +qwen35", result.stdout)
    assert re.search(r"chat template: +yes", result.stdout)


def test_info_model_without_mtp(gemma_path: str) -> None:
    result = run_cli("info", gemma_path, "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["model"]["has_mtp"] is False
    assert facts["model"]["architecture"] == "gemma3"
    assert "CPU" in facts["build"]["backends"]


def test_info_metadata(oracle_tiny_path: Path) -> None:
    result = run_cli("info", oracle_tiny_path, "--metadata")
    assert "general.architecture = qwen35" in result.stdout


# bench and synthetic: the existing command lines, under the llamamtp name


def test_bench_runs_harness(oracle_tiny_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "results"
    result = run_cli(
        "bench",
        oracle_tiny_path,
        "--programs",
        "llamamtp",
        "--depths",
        "1",
        "--no-auto",
        "--repeats",
        "1",
        "--n-tokens",
        "4",
        "--threads",
        "1",
        "--n-ctx",
        "256",
        "--output",
        output,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| llamamtp mtp-1 |" in (output / "results.md").read_text()


def test_bench_missing_model(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    result = run_cli("bench", missing)
    assert_one_line_error(result, 2, f"llamamtp bench: error: model file not found: {missing}")
    assert "(see 'llamamtp bench --help')" in result.stderr


def test_bench_bad_repeats(oracle_tiny_path: Path) -> None:
    result = run_cli("bench", oracle_tiny_path, "--repeats", "0")
    assert_one_line_error(result, 2, "llamamtp bench: error: --repeats and --n-tokens")


def test_synthetic_writes_model_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    result = run_cli("synthetic", "tiny", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(path)
    assert "100%" in result.stderr  # the tqdm bar of the tensor data
    info = run_cli("info", path, "--json")
    assert json.loads(info.stdout)["model"]["has_mtp"] is True


def test_synthetic_missing_vocab(tmp_path: Path) -> None:
    missing = tmp_path / "vocab.gguf"
    result = run_cli("synthetic", "tiny", tmp_path / "x.gguf", "--vocab", missing)
    assert_one_line_error(result, 2, "llamamtp synthetic: error: Qwen tokenizer not found")
    assert str(missing) in result.stderr


def test_synthetic_from_another_folder(tmp_path: Path) -> None:
    # The tokenizer is found next to the package, not relative to the working directory.
    env = {key: value for key, value in os.environ.items() if key != "LLAMAMTP_QWEN_VOCAB"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run(
        [sys.executable, "-m", "llamamtp", "synthetic", "tiny", "x.gguf", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.gguf").stat().st_size > 0


def test_synthetic_bad_preset(tmp_path: Path) -> None:
    result = run_cli("synthetic", "oracle", tmp_path / "x.gguf", "--preset", "70B")
    assert_one_line_error(result, 2, "invalid choice: '70B'")
    assert "llamamtp synthetic oracle" in result.stderr


# The installed console script


def test_console_script() -> None:
    script = Path(sys.executable).parent / "llamamtp"
    if not script.exists():
        pytest.skip(
            f"no llamamtp script next to {sys.executable}; reinstall the package "
            f"(pip install -e .) to create it"
        )
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"llamamtp {__version__}"
