"""Reading the events outbox by cursor (see :mod:`loopml.api.events`)."""

from loopml.events.reader import EventService

__all__ = ["EventService"]
