"""The loopml exception tree.

::

    LoopError                      root of every error loopml raises on purpose
    ├── UserError                  the caller asked for something wrong; fix the input (exit 1 / 4xx)
    │   ├── NotFound               no such dataset, version, run, model, alias, file   (404)
    │   ├── InvalidName            a name that does not match the naming rule          (400)
    │   ├── InvalidInput           a value, path, file or expression that is not acceptable (400/422)
    │   ├── Conflict               the write clashes with what exists                   (409)
    │   └── PermissionDenied       a role or trust flag is missing                      (403)
    ├── OperationalError           the platform itself failed; retry or repair     (exit 1 / 5xx)
    │   ├── StoreError             a database or blob backend failed
    │   └── IntegrityError         stored bytes do not match their digest
    └── Cancelled                  the work was cancelled while it ran (a job, a pipeline run)

The CLI and the server each translate this tree once; storage code never knows HTTP codes.
"""

from __future__ import annotations


class LoopError(Exception):
    """Root of every error loopml raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(LoopError):
    """The input was wrong; the message says how to fix it."""


class NotFound(UserError):
    """The named thing does not exist."""


class InvalidName(UserError):
    """A name does not match ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``."""


class InvalidInput(UserError):
    """A value, path, file or expression is not acceptable."""


class Conflict(UserError):
    """The write clashes with existing state."""


class PermissionDenied(UserError):
    """A role or an explicit trust flag is missing."""


class OperationalError(LoopError):
    """The platform failed, not the caller."""


class StoreError(OperationalError):
    """A database or blob backend failed."""


class IntegrityError(OperationalError):
    """Stored bytes do not match the digest they are filed under."""


class Cancelled(LoopError):
    """The work was cancelled while it ran (``loopml jobs cancel`` on a running job)."""
