"""Block 1: the dataset registry."""

from loopml.datasets.service import DatasetService
from loopml.datasets.version import DatasetSummary, DatasetVersion, FileEntry, PushResult

__all__ = ["DatasetService", "DatasetSummary", "DatasetVersion", "FileEntry", "PushResult"]
