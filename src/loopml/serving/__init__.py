"""Block 6: the endpoint (``loopml serve``) and the production pipeline (deployments).

Heavy parts (uvicorn, Starlette, numpy) load only when an endpoint is built; importing this
package is cheap.
"""

from loopml.serving.config import ServeConfig

__all__ = ["ServeConfig"]
