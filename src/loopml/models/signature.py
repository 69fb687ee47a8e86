"""What a model takes and returns: named, typed columns or a typed tensor.

A signature is inferred from an input example at registration and stored with the version;
:meth:`Signature.validate` checks data before a prediction (the serving layer relies on it),
and :meth:`Signature.prepare` also puts the columns in the order the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidInput

# dtype names are stable strings: int8..int64, uint8..uint64, float16..float64, bool, string,
# category, datetime, timedelta, object (anything).
_NUMERIC_PREFIXES = ("int", "uint", "float")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]  # -1 where any size is accepted (always the first, batch, axis)


Spec = tuple[ColumnSpec, ...] | TensorSpec


@dataclass(frozen=True)
class Signature:
    inputs: Spec
    outputs: Spec | None = None

    @property
    def columns(self) -> list[str] | None:
        """Input column names in training order, or None for a tensor input."""
        if isinstance(self.inputs, TensorSpec):
            return None
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": _spec_to_dict(self.inputs),
            "outputs": None if self.outputs is None else _spec_to_dict(self.outputs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """Parse the stored form; raise InvalidInput when it is malformed."""
        if not isinstance(data, dict) or "inputs" not in data:
            raise InvalidInput(
                "a signature is a mapping with 'inputs' (and optionally 'outputs'), e.g. "
                "{'inputs': {'type': 'columns', 'columns': [{'name': 'age', 'dtype': 'int64'}]}}"
            )
        outputs = data.get("outputs")
        return cls(
            _spec_from_dict(data["inputs"]), None if outputs is None else _spec_from_dict(outputs)
        )

    @classmethod
    def infer(cls, input_example: Any, output_example: Any = None) -> Signature:
        """Infer from an input example (DataFrame, ndarray, list of dicts) and optionally
        the model's output on it."""
        inputs = infer_spec(as_data(input_example, "input_example"))
        outputs = None if output_example is None else infer_spec(as_data(output_example, "output"))
        return cls(inputs, outputs)

    def validate(self, data: Any) -> None:
        """Raise InvalidInput, saying what is wrong, if ``data`` does not fit the inputs."""
        self.prepare(data)

    def prepare(self, data: Any) -> Any:
        """``data`` checked against the inputs: a DataFrame with the signature's columns in
        order (extra columns dropped), or an ndarray for a tensor input."""
        data = as_data(data, "input")
        if isinstance(self.inputs, TensorSpec):
            return _prepare_tensor(self.inputs, data)
        return _prepare_columns(self.inputs, data)


def as_data(data: Any, what: str = "input") -> Any:
    """A pandas DataFrame or a numpy ndarray for the accepted input shapes."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame | np.ndarray):
        return data
    if isinstance(data, pd.Series):
        return data.to_numpy()
    if isinstance(data, dict):
        if not data:
            raise InvalidInput(f"{what} is an empty mapping; pass at least one column")
        if all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame([data])
        try:
            return pd.DataFrame(data)
        except ValueError as exc:
            raise InvalidInput(
                f"{what}: columns of a mapping must have equal lengths ({exc})"
            ) from exc
    if isinstance(data, list | tuple):
        if not data:
            raise InvalidInput(f"{what} is empty; pass at least one row")
        if all(isinstance(r, dict) for r in data):
            return pd.DataFrame(list(data))
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise InvalidInput(f"{what}: rows must all have the same length ({exc})") from exc
        if array.dtype == object and array.ndim > 1:
            raise InvalidInput(f"{what}: rows of mixed types; pass a DataFrame or a list of dicts")
        return array
    raise InvalidInput(
        f"{what} of type {type(data).__name__} is not supported: pass a pandas DataFrame, a "
        "numpy array, a list of rows or a list of dicts (one per row)"
    )


def infer_spec(data: Any) -> Spec:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return tuple(ColumnSpec(str(c), dtype_name(data[c])) for c in data.columns)
    array = np.asarray(data)
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(dtype_name(array), tuple(int(n) for n in shape))


def dtype_name(values: Any) -> str:
    """The stable dtype name of a pandas Series or numpy array."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    kind = getattr(dtype, "kind", "O")
    bits = 8 * getattr(dtype, "itemsize", 8)
    if kind == "b":
        return "bool"
    if kind in "iu":
        return f"{'u' if kind == 'u' else ''}int{bits}"
    if kind == "f":
        return f"float{bits}"
    if kind == "M":
        return "datetime"
    if kind == "m":
        return "timedelta"
    if kind in "US":
        return "string"
    flat = values.ravel() if hasattr(values, "ravel") else values
    sample = [v for v in list(flat[:1000]) if v is not None and v == v]
    if sample and all(isinstance(v, str) for v in sample):
        return "string"
    return "object"


def _accepts(expected: str, found: str) -> bool:
    if expected in ("object", found):
        return True
    if expected.startswith("float"):
        return found.startswith(_NUMERIC_PREFIXES)
    if expected.startswith(("int", "uint")):
        return found.startswith(("int", "uint"))
    if expected == "category":
        return found == "string"
    if expected == "datetime":
        return found == "string"  # ISO text, as JSON carries it
    return False


def _integral(values: Any) -> bool:
    import numpy as np

    floats = np.asarray(values, dtype=float)
    return bool(np.all(np.isfinite(floats)) and np.all(floats == np.round(floats)))


def _prepare_columns(spec: tuple[ColumnSpec, ...], data: Any) -> Any:
    import numpy as np
    import pandas as pd

    names = [c.name for c in spec]
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(spec):
            raise InvalidInput(
                f"input array of shape {data.shape} does not fit {len(spec)} columns "
                f"({', '.join(names)}); pass a DataFrame or rows of {len(spec)} values"
            )
        data = pd.DataFrame(data, columns=names)
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise InvalidInput(
            f"input lacks column(s) {', '.join(missing)}; the model expects "
            f"{', '.join(f'{c.name} ({c.dtype})' for c in spec)}"
        )
    frame = data[names]
    for c in spec:
        found = dtype_name(frame[c.name])
        ok = _accepts(c.dtype, found) or (
            c.dtype.startswith(("int", "uint"))
            and found.startswith("float")
            and _integral(frame[c.name])
        )
        if not ok:
            raise InvalidInput(
                f"column {c.name!r} holds {found} values, the model expects {c.dtype}; "
                "convert the column before predicting"
            )
    return frame


def _prepare_tensor(spec: TensorSpec, data: Any) -> Any:
    import numpy as np
    import pandas as pd

    array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    if array.ndim == len(spec.shape) - 1 and len(spec.shape) > 1:
        array = array.reshape(1, *array.shape)  # one row given without the batch axis
    if array.ndim != len(spec.shape):
        raise InvalidInput(
            f"input has {array.ndim} dimension(s), the model expects {len(spec.shape)} "
            f"(shape {_shape_text(spec.shape)})"
        )
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
        if want != -1 and want != got:
            raise InvalidInput(
                f"input has size {got} on axis {axis}, the model expects {want} "
                f"(shape {_shape_text(spec.shape)})"
            )
    found = dtype_name(array)
    if not _accepts(spec.dtype, found) and not (
        spec.dtype.startswith(("int", "uint")) and found.startswith("float") and _integral(array)
    ):
        raise InvalidInput(f"input holds {found} values, the model expects {spec.dtype}")
    return array


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join("any" if n == -1 else str(n) for n in shape) + ")"


def _spec_to_dict(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, TensorSpec):
        return {"type": "tensor", "dtype": spec.dtype, "shape": list(spec.shape)}
    return {"type": "columns", "columns": [{"name": c.name, "dtype": c.dtype} for c in spec]}


def _spec_from_dict(data: Any) -> Spec:
    try:
        if data["type"] == "tensor":
            return TensorSpec(str(data["dtype"]), tuple(int(n) for n in data["shape"]))
        if data["type"] == "columns":
            return tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["columns"])
    except (KeyError, TypeError, ValueError):
        pass
    raise InvalidInput(
        f"malformed signature part {data!r}: expected {{'type': 'columns', 'columns': "
        "[{'name': ..., 'dtype': ...}]} or {'type': 'tensor', 'dtype': ..., 'shape': [...]}"
    )
