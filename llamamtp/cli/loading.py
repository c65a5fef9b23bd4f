"""Find the model a subcommand names (a path or a Hub download) and load it as a ``Llama``."""

from __future__ import annotations

import argparse
from pathlib import Path

from llamamtp.llama import Llama
from llamamtp.model import Model
from llamamtp.sampler import DEFAULT_SEED


class UsageError(Exception):
    """Arguments that parse but do not fit together; reported in one line with exit status 2."""


def resolve_model_path(args: argparse.Namespace) -> str:
    """Return the local path of the model: ``args.model``, or the file downloaded from the Hub."""
    if args.hf_repo:
        if args.model:
            raise UsageError("pass either a model path or --hf-repo, not both")
        if not args.hf_file:
            raise UsageError("--hf-repo needs --hf-file, the GGUF file name or glob to download")
        if args.quiet:
            _disable_hub_progress_bars()
        from llamamtp.hub import download_model

        try:
            return download_model(args.hf_repo, args.hf_file)
        except OSError as error:
            raise OSError(
                f"could not get {args.hf_file!r} from {args.hf_repo!r}: {error}"
            ) from None
    if args.hf_file:
        raise UsageError("--hf-file needs --hf-repo, the repository to download from")
    if not args.model:
        raise UsageError("missing model: pass the path of a GGUF file, or --hf-repo and --hf-file")
    path = Path(args.model)
    if not path.exists():
        raise UsageError(f"model file not found: {args.model}")
    if path.is_dir():
        raise UsageError(f"model path is a directory, not a GGUF file: {args.model}")
    return str(path)


def has_mtp_head(path: str) -> bool:
    """Return whether the GGUF file at ``path`` declares MTP (NextN) layers.

    It loads only the vocabulary, which reads the metadata but not the
    hyperparameters, so the count comes from ``{arch}.nextn_predict_layers``.
    """
    with Model(path, vocab_only=True) as model:
        metadata = model.metadata
    architecture = metadata.get("general.architecture", "")
    return int(metadata.get(f"{architecture}.nextn_predict_layers", "0") or 0) > 0


def min_batch_for_draft(draft_n_max: int) -> int:
    """Return the smallest --n-batch that drafting up to ``draft_n_max`` tokens works with.

    A verify pass evaluates the pending token and the draft in one ubatch. On
    models with recurrent layers (Qwen3.5), llama.cpp keeps the last
    ``n_rs_seq + 1`` tokens of a batch in one ubatch and asserts that the ubatch
    is longer than that (``split_equal`` in llama-batch.cpp), and the session sets
    ``n_rs_seq`` to the draft length. Models with attention layers only would
    need one token less, but the command line applies one rule to every model.
    """
    return draft_n_max + 2


def check_batch_fits_draft(args: argparse.Namespace, path: str) -> None:
    """Raise UsageError when drafting is on and --n-batch is too small to verify a draft.

    A model without an MTP head never drafts, so any batch size works for it.
    """
    min_batch = min_batch_for_draft(args.draft_n_max)
    if args.draft == "off" or args.n_batch >= min_batch or not has_mtp_head(path):
        return
    raise UsageError(
        f"--n-batch {args.n_batch} is too small to verify drafts of up to --draft-n-max "
        f"{args.draft_n_max} tokens: it must be at least {min_batch} (--draft-n-max + 2), "
        f"so raise --n-batch, lower --draft-n-max, or pass --draft off"
    )


def load_llama(args: argparse.Namespace, path: str) -> Llama:
    """Load ``path`` with the context, sampling seed and drafting options of ``args``.

    Prefix reuse is "longest" so that a prompt the CLI already prefilled (with
    a progress bar, see :func:`llamamtp.cli.streaming.prefill`) is reused whole
    instead of being decoded again.
    """
    check_batch_fits_draft(args, path)
    return Llama(
        path,
        n_ctx=args.n_ctx,
        n_batch=args.n_batch,
        n_ubatch=args.n_batch,
        n_threads=args.threads,
        n_gpu_layers=args.n_gpu_layers,
        flash_attn=args.flash_attn,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        verbose=args.verbose,
        draft=None if args.draft == "off" else args.draft,
        draft_n_max=args.draft_n_max,
        prefix_reuse="longest",
        chat_format=getattr(args, "chat_format", None),
    )


def _disable_hub_progress_bars() -> None:
    try:
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:
        return  # download_model raises the ImportError with the install hint
    disable_progress_bars()
