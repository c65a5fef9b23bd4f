"""``llamamtp info``: the build's backends and devices, and a model's metadata and MTP head."""

from __future__ import annotations

import argparse
import json

from llamamtp import info
from llamamtp._log import set_verbose
from llamamtp._version import __version__
from llamamtp.cli.args import Parser, add_model_arguments, add_output_arguments
from llamamtp.cli.loading import resolve_model_path
from llamamtp.model import Model

NAME = "info"
SUMMARY = "show the build (llama.cpp commit, backends, devices) and a model's metadata"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of ``llamamtp info``."""
    parser = Parser(
        prog=prog,
        description="Show the llama.cpp commit, the backends compiled in and the devices "
        "they found; with a model, also its architecture, sizes, quantization, chat template "
        "and whether it has an MTP (NextN) head that llamamtp can draft with.",
    )
    add_model_arguments(parser, required=False)
    parser.add_argument(
        "--metadata", action="store_true", help="also list every GGUF metadata key and value"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_output_arguments(parser, quiet_help="no progress bar while downloading with --hf-repo")
    return parser


def build_facts() -> dict:
    """Return what this build of llamamtp contains."""
    return {
        "llamamtp": __version__,
        "llama_cpp_commit": info.llama_cpp_commit(),
        "backends": info.backends(),
        "devices": [{"name": name, "description": text} for name, text in info.devices()],
        "gpu_offload": info.supports_gpu_offload(),
        "system_info": info.system_info().strip(),
    }


def model_facts(path: str, with_metadata: bool) -> dict:
    """Load ``path`` (weights memory-mapped, MTP layers skipped) and describe it."""
    with Model(path) as model:
        metadata = model.metadata
        facts = {
            "path": path,
            "description": model.desc,
            "name": metadata.get("general.name"),
            "architecture": metadata.get("general.architecture"),
            "file_type": model.ftype,
            "size_bytes": model.size,
            "n_params": model.n_params,
            "n_layer": model.n_layer,
            "n_layer_nextn": model.n_layer_nextn,
            "has_mtp": model.n_layer_nextn > 0,
            "n_embd": model.n_embd,
            "n_head": model.n_head,
            "n_vocab": model.n_vocab,
            "n_ctx_train": model.n_ctx_train,
            "hybrid": model.is_hybrid,
            "recurrent": model.is_recurrent,
            "chat_template": model.chat_template() is not None,
        }
        if with_metadata:
            facts["metadata"] = metadata
    return facts


def format_text(build: dict, model: dict | None) -> list[str]:
    """Lay the facts out as aligned ``key: value`` lines."""
    rows = [
        ("llamamtp", build["llamamtp"]),
        ("llama.cpp commit", build["llama_cpp_commit"]),
        ("backends", ", ".join(build["backends"]) or "none"),
        ("devices", "; ".join(f"{d['name']} ({d['description']})" for d in build["devices"])),
        ("GPU offload", "yes" if build["gpu_offload"] else "no"),
        ("system", build["system_info"]),
    ]
    if model is not None:
        mtp = "no"
        if model["has_mtp"]:
            mtp = f"yes, {model['n_layer_nextn']} NextN block(s); llamamtp drafts with it"
        rows += [
            ("model", model["path"]),
            ("description", model["description"]),
            ("name", model["name"] or "-"),
            ("architecture", model["architecture"] or "-"),
            ("file type", model["file_type"]),
            ("size", f"{model['size_bytes'] / 2**20:.1f} MiB"),
            ("parameters", f"{model['n_params']:,}"),
            ("layers", model["n_layer"]),
            ("MTP head", mtp),
            ("n_embd", model["n_embd"]),
            ("n_head", model["n_head"]),
            ("vocabulary", f"{model['n_vocab']:,} tokens"),
            ("training context", f"{model['n_ctx_train']:,} tokens"),
            (
                "hybrid/recurrent",
                f"{'yes' if model['hybrid'] else 'no'}/{'yes' if model['recurrent'] else 'no'}",
            ),
            ("chat template", "yes" if model["chat_template"] else "no"),
        ]
    width = max(len(key) for key, _ in rows)
    lines = [f"{key + ':':<{width + 1}} {value}" for key, value in rows]
    if model is not None and "metadata" in model:
        lines.append("metadata:")
        lines += [
            f"  {key} = {_shorten(value)}" for key, value in sorted(model["metadata"].items())
        ]
    return lines


def _shorten(value: str, limit: int = 200) -> str:
    value = value.replace("\n", "\\n")
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"


def run(args: argparse.Namespace) -> int:
    """Print the facts; return the exit status."""
    set_verbose(args.verbose)
    model = None
    if args.model or args.hf_repo or args.hf_file:
        model = model_facts(resolve_model_path(args), args.metadata)
    build = build_facts()
    if args.json:
        print(json.dumps({"build": build, "model": model}, indent=2))
    else:
        print("\n".join(format_text(build, model)))
    return 0
