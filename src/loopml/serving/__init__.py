"""Block 6b: the serving endpoint (``loopml serve``); deployments live in ``loopml.deployments``.

Heavy parts (uvicorn, Starlette, numpy) load only when an endpoint is built; importing this
package is cheap.
"""

from loopml.serving.config import ServeConfig

__all__ = ["ServeConfig"]
