"""The service boundary: one Protocol per service, the JSON-safe frozen values that cross it, and
typed events (pure: no I/O, imports only ``loopml.core``)."""
