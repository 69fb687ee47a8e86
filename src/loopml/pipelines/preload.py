"""Imported by the local executor's fork server before it forks any worker: imports the
modules of ``LOOPML_WORKER_PRELOAD`` (or the default list), so that every worker starts with
them. The fork server must outlive whatever a module does, so a module that fails to import
(whatever the error) is skipped, and so is one of the project's own modules: a worker forgets
the project's modules between runs so that an edit is seen, which a module inherited from
the fork server would defeat. Each skip named in the variable is one line on stderr."""

from __future__ import annotations

import importlib
import os
import sys

from loopml.pipelines.cache import is_user_module
from loopml.pipelines.executor_local import PRELOAD_VARIABLE, preload_modules


def _say(name: str, why: str) -> None:
    sys.stderr.write(f"loopml: {PRELOAD_VARIABLE}: {name} {why}; step workers start without it\n")


def _preload() -> None:
    try:
        names = preload_modules()
    except Exception:  # checked by the executor before the server started; never fatal here
        return
    listed = PRELOAD_VARIABLE in os.environ  # the default names optional libraries
    for name in names:
        before = set(sys.modules)
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if listed:
                _say(name, f"cannot be imported ({exc})")
            continue
        except (Exception, SystemExit) as exc:  # a module that fails, or exits, on import
            _say(name, f"failed to import ({type(exc).__name__}: {exc})")
            continue
        if is_user_module(sys.modules.get(name)):
            for added in set(sys.modules) - before:
                if is_user_module(sys.modules.get(added)):
                    del sys.modules[added]
            _say(
                name,
                "is a module of the project, not an installed library (edits to it "
                "would not reach the workers)",
            )


_preload()
