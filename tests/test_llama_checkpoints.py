"""Prompt checkpoints: Qwen3.5-family models resume a new prompt from a saved recurrent state."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from llamamtp import Llama
from llamamtp.prefix_reuse import CHECKPOINT_TAIL
from tests.llama_fixtures import N_UBATCH, OPTIONS

# Long enough to span several ubatches of N_UBATCH tokens.
LONG = " ".join(["The river flows past the old mill and the bridge."] * 4)
COMPLETION_PROMPTS = [LONG, LONG + " Then it rained.", LONG + " Then it rained. The mill stopped."]
SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer in one sentence."}
QUESTIONS = ["Hello", "How are you?", "And then?"]
GREEDY = dict(max_tokens=12, temperature=0)


@pytest.fixture(scope="module")
def model_paths(tiny_qwen35_path: Path, oracle_tiny_path: Path) -> dict[str, str]:
    return {"qwen35": str(tiny_qwen35_path), "oracle": str(oracle_tiny_path)}


def prefilled(llm: Llama) -> int:
    return llm.session.stats.n_prefill


def chat(llm: Llama, messages: list[dict]) -> dict:
    return llm.create_chat_completion(messages, **GREEDY)


def reply_of(response: dict) -> dict:
    return {"role": "assistant", "content": response["choices"][0]["message"]["content"] or ""}


@pytest.mark.parametrize("draft", [None, "mtp"])
@pytest.mark.parametrize("kind", ["qwen35", "oracle"])
def test_chat_reuse_matches_fresh(model_paths: dict[str, str], kind: str, draft: str | None):
    path = model_paths[kind]
    reused = []
    with Llama(path, draft=draft, **OPTIONS) as llm, Llama(path, draft=draft, **OPTIONS) as fresh:
        messages = [SYSTEM]
        for question in QUESTIONS:
            messages.append({"role": "user", "content": question})
            response = chat(llm, messages)
            fresh.reset()
            chat(fresh, messages)
            assert llm.session.tokens == fresh.session.tokens
            reused.append(response["usage"]["prompt_tokens_reused"])
            messages.append(reply_of(response))
    assert reused[0] == 0
    assert all(n > 0 and n % N_UBATCH == 0 for n in reused[1:])


@pytest.mark.parametrize("draft", [None, "mtp"])
@pytest.mark.parametrize("kind", ["qwen35", "oracle"])
def test_completion_reuse_matches_fresh(model_paths: dict[str, str], kind: str, draft: str | None):
    path = model_paths[kind]
    reused = []
    with Llama(path, draft=draft, **OPTIONS) as llm, Llama(path, draft=draft, **OPTIONS) as fresh:
        for prompt in COMPLETION_PROMPTS:
            response = llm(prompt, **GREEDY)
            fresh.reset()
            fresh(prompt, **GREEDY)
            assert llm.session.tokens == fresh.session.tokens
            reused.append(response["usage"]["prompt_tokens_reused"])
    assert reused[0] == 0
    assert all(n > 0 for n in reused[1:])


def test_exact_reuse_decodes_from_ubatch_boundary(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), draft="mtp", **OPTIONS) as llm:
        n_first = llm(LONG, **GREEDY)["usage"]["prompt_tokens"]
        before = prefilled(llm)
        usage = llm(LONG + " Then it rained.", **GREEDY)["usage"]
        n_decoded = prefilled(llm) - before
    reused = usage["prompt_tokens_reused"]
    assert reused % N_UBATCH == 0
    assert n_first - 1 - N_UBATCH < reused <= n_first - 1
    assert n_decoded == usage["prompt_tokens"] - 1 - reused


def test_same_prompt_again_reuses_everything(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), draft="mtp", **OPTIONS) as llm:
        first = llm(LONG, **GREEDY)
        first_tokens = llm.session.tokens
        before = prefilled(llm)
        again = llm(LONG, **GREEDY)
        assert llm.session.tokens == first_tokens
        assert prefilled(llm) == before
    assert again["usage"]["prompt_tokens_reused"] == first["usage"]["prompt_tokens"] - 1


@pytest.mark.parametrize("draft", [None, "mtp"])
def test_longest_chat_decodes_only_new_tokens(tiny_qwen35_path: Path, draft: str | None):
    options = dict(OPTIONS, draft=draft, prefix_reuse="longest")
    with Llama(str(tiny_qwen35_path), **options) as llm, \
         Llama(str(tiny_qwen35_path), **options) as fresh:  # fmt: skip
        messages = [SYSTEM]
        n_previous = 0
        for question in QUESTIONS:
            messages.append({"role": "user", "content": question})
            before = prefilled(llm)
            response = chat(llm, messages)
            usage = response["usage"]
            reused = usage["prompt_tokens_reused"]
            assert prefilled(llm) - before == usage["prompt_tokens"] - 1 - reused
            # The previous prompt is reused up to a few tokens before its end,
            # where the template rendered the reply's opening differently.
            assert reused >= n_previous - 1 - CHECKPOINT_TAIL
            # On these F32 models the other pass shapes change no greedy token.
            fresh.reset()
            chat(fresh, messages)
            assert llm.session.tokens == fresh.session.tokens
            n_previous = usage["prompt_tokens"]
            messages.append(reply_of(response))


def test_longest_completion_resumes_at_prompt_end(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), prefix_reuse="longest", **OPTIONS) as llm:
        n_first = llm(LONG, **GREEDY)["usage"]["prompt_tokens"]
        usage = llm(LONG + " Then it rained.", **GREEDY)["usage"]
    assert usage["prompt_tokens_reused"] == n_first - 1


def test_checkpoints_are_bounded(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), n_ctx_checkpoints=2, prefix_reuse="longest",
               **OPTIONS) as llm:  # fmt: skip
        for prompt in COMPLETION_PROMPTS + ["Something else entirely, and long enough."]:
            llm(prompt, **GREEDY)
            assert 0 < len(llm.session.checkpoints) <= 2


def test_no_checkpoints_means_no_reuse(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), n_ctx_checkpoints=0, **OPTIONS) as llm:
        llm(LONG, **GREEDY)
        usage = llm(LONG + " Then it rained.", **GREEDY)["usage"]
        assert llm.session.checkpoints == []
    assert usage["prompt_tokens_reused"] == 0


def test_reset_drops_checkpoints(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), **OPTIONS) as llm:
        llm(LONG, **GREEDY)
        assert llm.session.checkpoints
        llm.reset()
        assert llm.session.checkpoints == []
        assert llm(LONG, **GREEDY)["usage"]["prompt_tokens_reused"] == 0


def test_attention_model_keeps_no_checkpoints(gemma_path: str):
    with Llama(gemma_path, **OPTIONS) as llm:
        llm(LONG, **GREEDY)
        usage = llm(LONG + " Then it rained.", **GREEDY)["usage"]
        assert llm.session.checkpoints == []
    assert usage["prompt_tokens_reused"] > 0


def test_chat_command_reuses_history(oracle_tiny_path: Path):
    # The command-line chat of the reproducer: each reply's prompt repeats the conversation.
    result = subprocess.run(
        [sys.executable, "-m", "llamamtp", "chat", str(oracle_tiny_path), "--draft", "off",
         "-t", "1", "--temp", "0", "-n", "12"],
        input="Hello\nHow are you?\nAnd then?\n", capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = re.findall(r"\[prompt: (\d+) tokens, (\d+) decoded", result.stderr)
    counts = [(int(n_prompt), int(n_decoded)) for n_prompt, n_decoded in summaries]
    assert len(counts) == 3
    for (n_before, _), (n_prompt, n_decoded) in zip(counts, counts[1:], strict=False):
        assert n_decoded <= n_prompt - n_before + CHECKPOINT_TAIL
