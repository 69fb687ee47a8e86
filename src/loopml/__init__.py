"""loopml: the whole ML loop in one install.

The public API is re-exported here; heavy modules load on first use so ``import loopml``
stays fast.
"""

from loopml.core.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidName,
    LoopError,
    NotFound,
    PermissionDenied,
    StoreError,
)
from loopml.sdk import (
    Client,
    diff_datasets,
    list_datasets,
    load_dataset,
    pull_dataset,
    push_dataset,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "InvalidName",
    "LoopError",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "__version__",
    "diff_datasets",
    "list_datasets",
    "load_dataset",
    "pull_dataset",
    "push_dataset",
]
