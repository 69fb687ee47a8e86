"""The words of the run filter language: its field prefixes, fields and error. Tokens and
grammar are loopml's one expression grammar (:mod:`loopml.core.expr`); what they mean for runs
is in :mod:`loopml.tracking.filter`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopml.core.expr import ExprError

Kind = Literal["metric", "param", "tag", "attribute"]
PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
EXAMPLE = "metrics.accuracy > 0.9 and params.model = 'lr'"


class FilterError(ExprError):
    """A filter or order-by expression that does not parse; points at the position."""

    def __init__(self, text: str, position: int, problem: str, hint: str = "") -> None:
        super().__init__(text, position, problem, hint)


@dataclass(frozen=True)
class Field:
    kind: Kind
    key: str

    def __str__(self) -> str:
        return f"{self.kind}s.{self.key}" if self.kind != "attribute" else f"attributes.{self.key}"
