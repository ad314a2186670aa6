"""Production has no built-in secret and is HTTPS-only; development keeps working with DEBUG on.

Each test starts `manage.py` in a fresh process with an environment made
from scratch: settings are read once, at start-up, and refusing to start is
what is being checked.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

# Values for the variables README.md marks required in "Deploying to production".
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "sync.example.test",
}


def documented_required() -> set[str]:
    """The variables README.md's "Deploying to production" table marks **required**."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying to production", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1] == "**required**":
            names.update(re.findall(r"`([A-Z_]+)", cells[0]))
    return names


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_the_readme_documents_the_required_production_variables():
    assert documented_required() == set(PRODUCTION)


def test_check_deploy_with_the_documented_environment_finds_nothing(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stderr


def test_production_defaults_are_https_only(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION, tmp_path=tmp_path)
    assert result.stdout.split("\n")[0] == (
        "False True True True 31536000 True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    ), result.stderr

    overridden = manage("shell", "--no-imports", "-c", code, tmp_path=tmp_path, env={
        **PRODUCTION, "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "60", "SECURE_PROXY_SSL_HEADER": ""})
    assert overridden.stdout.startswith("False False True True 60 True True None"), overridden.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "TOKEN_ENCRYPTION_KEYS"])
def test_it_refuses_to_start_without_its_own_secrets(tmp_path, missing):
    env = {name: value for name, value in PRODUCTION.items() if name != missing}

    result = manage("check", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} is not set" in result.stderr


def test_it_refuses_the_development_key_and_a_broken_encryption_key(tmp_path):
    development = manage("check", tmp_path=tmp_path, env={
        **PRODUCTION, "SECRET_KEY": "dev-only-secret-key-change-me-in-production-0123456789"})
    assert development.returncode != 0 and "SECRET_KEY is not set" in development.stderr

    broken = manage("check", env={**PRODUCTION, "TOKEN_ENCRYPTION_KEYS": "not-a-fernet-key"}, tmp_path=tmp_path)
    assert broken.returncode != 0
    assert "TOKEN_ENCRYPTION_KEYS: key 1 is not a Fernet key" in broken.stderr
    assert "not-a-fernet-key" not in broken.stderr


def test_development_still_starts_with_nothing_set(tmp_path):
    result = manage("check", env={}, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    code = "from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE)"
    assert manage("shell", "--no-imports", "-c", code, env={}, tmp_path=tmp_path).stdout.strip() == "True False False"
