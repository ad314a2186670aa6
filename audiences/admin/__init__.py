"""The marketer's admin for canvases, steps and audiences; importing the modules registers their admins."""

from audiences.admin import canvases, records, trust  # noqa: F401
