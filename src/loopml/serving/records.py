"""The common ``/predict`` body, ``{"records": [{col: number, ...}, ...]}`` for a signature of
float64 columns, decoded straight from the bytes into one matrix.

A decoder compiled from the signature (msgspec) reads the body into rows whose fields are the
columns, checking on the way that each row has exactly the signature's columns and that every
value is a number; the rows then become one (rows by columns) float64 array in signature order.
This skips building a dictionary per row and checking it afterwards, which cost more than
parsing the body.

Anything else (another form, a missing or unknown column, a null, a string, a number out of
range, an empty list) is not judged here: :meth:`FloatRecords.decode` returns None and the
endpoint takes the general path (:func:`loopml.serving.codec.decode_predict`), which accepts
what it accepts and names the field at fault in what it refuses. So this path changes how fast a
valid body is read, never what is accepted or what an error says.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from loopml.core.errors import InvalidInput
from loopml.serving.schema import Batch


class FloatRecords:
    """Decodes the records form for ``names``, two or more float64 columns."""

    def __init__(self, names: list[str]) -> None:
        import msgspec

        if len(names) < 2:  # one field: attrgetter returns a value, not a tuple
            raise InvalidInput(f"FloatRecords needs two or more columns, got {names!r}")
        fields = [f"c{j}" for j in range(len(names))]
        row = msgspec.defstruct(
            "Row",
            [(f, float) for f in fields],
            rename=dict(zip(fields, names, strict=True)),
            forbid_unknown_fields=True,
            gc=False,
        )
        body = msgspec.defstruct(
            "RecordsBody",
            [("records", list[row])],  # type: ignore[valid-type]
            forbid_unknown_fields=True,
            gc=False,
        )
        self._decoder: Any = msgspec.json.Decoder(body)
        self._errors = (msgspec.DecodeError, msgspec.ValidationError)
        self._values = attrgetter(*fields)
        self.width = len(names)

    def decode(self, body: bytes) -> Batch | None:
        """The batch of a valid records body, or None for the general path to judge."""
        try:
            rows = self._decoder.decode(body).records
        except self._errors:
            return None
        n = len(rows)
        if not n:
            return None
        # every value is finite: JSON has no NaN or infinity, and msgspec refuses a number
        # beyond float64 ("out of range") rather than reading it as infinity
        flat = chain.from_iterable(map(self._values, rows))
        return Batch(n, matrix=np.fromiter(flat, np.float64, n * self.width).reshape(n, -1))
