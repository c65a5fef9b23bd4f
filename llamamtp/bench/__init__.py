"""Benchmarks: llamamtp against native llama.cpp and llama-cpp-python, interleaved.

``python -m llamamtp.bench MODEL.gguf`` runs every program on one model file,
prompt and thread count, repeating A B C ... A B C ..., and writes a markdown
table, a JSON record and (with matplotlib) a PNG plot. See ``--help``.
"""

from llamamtp.bench.harness import PROGRAM_KINDS, BenchConfig, Program, programs_for, run_benchmark

__all__ = ["PROGRAM_KINDS", "BenchConfig", "Program", "programs_for", "run_benchmark"]
