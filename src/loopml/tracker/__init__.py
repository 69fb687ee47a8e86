"""The client side of experiment tracking: the active-run stack, the run handle, the metric
buffer and its flusher, ending open runs at exit and on SIGTERM. It reaches the stores only
through the runs service's interface (:class:`loopml.api.protocols.Runs`)."""
