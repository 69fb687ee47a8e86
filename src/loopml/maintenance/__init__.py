"""Checking and cleaning the stores and ending what died: fsck, gc, reaping."""
