"""The service boundary: one Protocol per service, plain JSON-safe values, typed events."""
