"""References to versioned things: ``NAME`` (latest), ``NAME@N`` / ``NAME/N`` (version N),
``NAME@ALIAS`` (an alias such as ``production``)."""

from __future__ import annotations

from dataclasses import dataclass

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.names import validate_alias, validate_name


@dataclass(frozen=True)
class Ref:
    """A parsed reference. Exactly one of ``version`` / ``alias`` is set, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name

    def without_alias(self, kind: str) -> Ref:
        """This reference, or NotFound when it names an alias (``kind`` has none: datasets)."""
        if self.alias is not None:
            raise NotFound(
                f"{kind}s have no aliases ({self}); use a version number such as {self.name}@1"
            )
        return self


def parse_ref(text: str, kind: str = "reference") -> Ref:
    """Parse ``NAME``, ``NAME@N``, ``NAME/N`` or ``NAME@ALIAS``."""
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"empty {kind}: expected NAME, NAME@VERSION or NAME@ALIAS")
    if "@" in text:
        name, _, tail = text.partition("@")
    elif "/" in text:
        name, _, tail = text.partition("/")
        if not tail.isdigit():
            raise InvalidInput(
                f"invalid {kind} {text!r}: after '/' comes a version number, e.g. {name}/3"
            )
    else:
        return Ref(validate_name(text, kind))
    validate_name(name, kind)
    if not tail:
        raise InvalidInput(f"invalid {kind} {text!r}: nothing after the separator, e.g. {name}@3")
    if tail.isdigit():
        number = int(tail)
        if number < 1:
            raise InvalidInput(f"invalid {kind} {text!r}: versions start at 1")
        return Ref(name, version=number)
    return Ref(name, alias=validate_alias(tail))
