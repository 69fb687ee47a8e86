"""``loopml server``: the services of one store over HTTP under ``/api/v1`` (FastAPI).

Routes are thin: parse, call the service from :func:`loopml.connect`, serialize with the one
codec of :mod:`loopml.api.codec`. Nothing below this package imports it; the CLI imports it
only inside the ``loopml server`` and ``loopml ui`` commands, and the endpoint never does.
"""
