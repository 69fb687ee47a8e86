"""The one JSON codec refuses what it cannot read with InvalidInput, never a Python error."""

from __future__ import annotations

from typing import Any

import pytest

from loopml.api import codec
from loopml.core.errors import InvalidInput


def test_json_nested_past_the_decoders_limit_is_invalid_input_not_a_recursion_error() -> None:
    with pytest.raises(InvalidInput, match="nests deeper"):
        codec.decode(b"[" * 10_000 + b"]" * 10_000, dict[str, Any] | list[Any])
