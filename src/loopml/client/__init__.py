"""The remote backend: the service interfaces of :mod:`loopml.api.protocols` over HTTP to a
``loopml server`` (httpx). :func:`loopml.connect` returns :class:`RemoteServices` when
``LOOPML_URI`` (``settings.uri``) is set; callers cannot tell the two backends apart."""
