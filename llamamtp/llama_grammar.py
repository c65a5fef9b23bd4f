"""``LlamaGrammar``: a GBNF grammar that constrains sampling, as in llama-cpp-python."""

from __future__ import annotations

import json
import os
from typing import Any

from llamamtp._native import ffi, lib
from llamamtp.errors import clear_native_error, native_error

# Any JSON object, the grammar behind ``response_format={"type": "json_object"}``.
JSON_OBJECT_SCHEMA = {"type": "object"}


class LlamaGrammar:
    """A GBNF grammar with a ``root`` rule.

    The text is checked against a vocabulary when a request uses it, so an
    invalid grammar raises ``ValueError`` from that request.
    """

    def __init__(self, grammar: str, root: str = "root") -> None:
        if not isinstance(grammar, str) or not grammar.strip():
            raise ValueError("grammar is empty; pass GBNF text with a root rule")
        self._grammar = grammar
        self.root = root

    @property
    def grammar(self) -> str:
        """The GBNF text."""
        return self._grammar

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> LlamaGrammar:
        """Create a grammar from GBNF text (``verbose`` is accepted for compatibility)."""
        return cls(grammar)

    @classmethod
    def from_file(cls, file: str | os.PathLike[str], verbose: bool = True) -> LlamaGrammar:
        """Read GBNF text from a file."""
        with open(file, encoding="utf-8") as stream:
            return cls(stream.read())

    @classmethod
    def from_json_schema(
        cls, json_schema: str | dict[str, Any], verbose: bool = True
    ) -> LlamaGrammar:
        """Create a grammar that accepts exactly the JSON documents a JSON schema allows."""
        return cls(json_schema_to_gbnf(json_schema))

    def __repr__(self) -> str:
        return f"LlamaGrammar({len(self._grammar)} characters, root={self.root!r})"


def json_schema_to_gbnf(schema: str | dict[str, Any]) -> str:
    """Convert a JSON schema (text or dict) to GBNF with llama.cpp's converter."""
    text = schema if isinstance(schema, str) else json.dumps(schema)
    clear_native_error()
    result = lib.llamamtp_json_schema_to_grammar(text.encode("utf-8"))
    if result == ffi.NULL:
        raise ValueError(f"invalid JSON schema: {native_error()}")
    return ffi.string(result).decode("utf-8")
