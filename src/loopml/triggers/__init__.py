"""Triggers (block 5): match events to triggers, queue jobs, run them with a lease."""
