"""The marketer's admin for canvases, steps and audiences; importing the modules registers their admins."""

from audiences.admin import canvases, records, segments, trust  # noqa: F401
