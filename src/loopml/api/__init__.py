"""The service boundary: one Protocol per service and the JSON-safe frozen values that cross it
(pure: no I/O, imports only ``loopml.core``)."""
