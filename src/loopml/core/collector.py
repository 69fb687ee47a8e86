"""Keeping Python's cycle collector off the objects a bulk operation did not create."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def new_objects_only() -> Iterator[None]:
    """Within the block the cycle collector looks only at objects created in it.

    A push creates tens of thousands of small objects that live until it ends (chunk entries,
    rows); each time enough of them pile up Python runs a full collection, which walks every
    object of the process, the program's own included: on a 1 GiB push that was a tenth of
    its CPU. The objects that were there before are set aside (``gc.freeze``) for the block
    and handed back to the collector after it, so garbage among them only waits. A process
    that froze objects itself (a pre-fork server) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
