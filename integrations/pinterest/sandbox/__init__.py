"""A local Pinterest API v5 for the demo, the tests and the benchmark."""

from integrations.pinterest.sandbox.server import SandboxServer
from integrations.pinterest.sandbox.state import SandboxState

__all__ = ["SandboxServer", "SandboxState"]
