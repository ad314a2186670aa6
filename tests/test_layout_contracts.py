"""The import contracts of `.importlinter` hold: layers, integrations apart from audiences, the HTTP
client and the sandbox where they belong, and no import cycles.

Run through `lint-imports` as a newcomer would run it, so a broken contract fails `make test` with
import-linter's own account of which import breaks which contract.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout
