"""What a SQL source may reach and run: the operator's hosts, never the service's own database, SELECT only.

A source reaches into someone's network, so its URL is checked when it is
saved and again before each run: a PostgreSQL host must be one the operator
listed (SEGMENT_SOURCE_ALLOWED_HOSTS; staff may name any), the service's own
database is refused whatever name or address reaches it (host names are
resolved and compared with the service's, with the machine's own addresses
counting as loopback), and a SQLite file must lie inside the folder the
operator named (SEGMENT_SOURCE_SQLITE_DIR). The query must be one SELECT (or
WITH ... SELECT); the run's read-only transaction is what finally enforces it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import connection

from audiences.services.errors import ServiceError

POSTGRES_SCHEMES = {"postgres", "postgresql"}
_WRITING = re.compile(
    r"\b(insert|update|delete|merge|upsert|truncate|drop|alter|create|grant|revoke|copy|call|do|vacuum|analyze|"
    r"reindex|cluster|refresh|lock|attach|detach|pragma|replace|set|reset|begin|commit|rollback|savepoint|"
    r"prepare|execute|listen|notify|load|into)\b", re.IGNORECASE)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


class SourceRefused(ServiceError):
    """A source's URL or query is not allowed; nothing was saved or run."""


@dataclass(frozen=True)
class Target:
    scheme: str  # "postgresql" or "sqlite"
    host: str = ""
    port: int = 5432
    database: str = ""  # the database name, or the SQLite file's real path

    @property
    def display(self) -> str:
        if self.scheme == "sqlite":
            return f"sqlite:///{self.database}"
        return f"postgresql://{self.host}:{self.port}/{self.database}"


def query_check(query: str) -> str:
    """The query, trimmed, if it is one SELECT; SourceRefused otherwise."""
    text = (query or "").strip()
    bare = _QUOTED.sub("''", _COMMENTS.sub(" ", text)).strip().rstrip(";").strip()
    if not bare:
        raise SourceRefused("Give a query: one SELECT returning external_id and any of email, ios_idfa, android_aid.")
    if ";" in bare:
        raise SourceRefused("One statement only: a source's query is a single SELECT.")
    first = bare.split(None, 1)[0].lower()
    found = _WRITING.search(bare)
    if first not in ("select", "with") or found:
        word = found.group(0).upper() if found else first.upper()
        raise SourceRefused(f"Only a SELECT may be a source's query ({word} is not allowed); sources only read.")
    return text.rstrip().rstrip(";")


def target_check(url: str, *, by_staff: bool = False) -> Target:
    """Where the URL points, if a source may read there; SourceRefused (naming why) otherwise."""
    parts = urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return _sqlite_target(unquote(parts.path))
    if scheme not in POSTGRES_SCHEMES:
        raise SourceRefused("A source is a PostgreSQL URL (postgresql://user:password@host:5432/database).")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or 5432
    except ValueError:
        raise SourceRefused("The URL's port is not a number.") from None
    database = unquote(parts.path.lstrip("/"))
    if not host or not database:
        raise SourceRefused("Name the database's host and the database: postgresql://user:password@host/database.")
    if not by_staff and host not in settings.SEGMENT_SOURCE_ALLOWED_HOSTS:
        raise SourceRefused(f"Host {host} is not one this service's operator allows sources to reach; "
                            "ask them to add it to SEGMENT_SOURCE_ALLOWED_HOSTS.")
    target = Target("postgresql", host, port, database)
    if is_own_database(target):
        raise SourceRefused("That is this service's own database: a source must read another one.")
    return target


def _sqlite_target(path: str) -> Target:
    folder = settings.SEGMENT_SOURCE_SQLITE_DIR
    if not folder:
        raise SourceRefused("SQLite sources are off: the operator has not named a folder for them.")
    real, base = os.path.realpath(path), os.path.realpath(folder)
    if os.path.commonpath([real, base]) != base:
        raise SourceRefused(f"A SQLite source must be a file inside {base}.")
    own = connection.settings_dict.get("NAME") if connection.vendor == "sqlite" else None
    if own and os.path.realpath(str(own)) == real:
        raise SourceRefused("That is this service's own database: a source must read another one.")
    if not os.path.isfile(real):
        raise SourceRefused(f"No file {real}.")
    return Target("sqlite", database=real)


def _addresses(host: str) -> set[str]:
    if not host or host.startswith("/"):
        host = "localhost"  # a Unix socket is this machine
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return {host}
    if any(address.startswith("127.") or address == "::1" for address in found):
        found |= _this_machine()
    return found


def _this_machine() -> set[str]:
    found = {"127.0.0.1", "::1"}
    try:
        found |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    return found


def is_own_database(target: Target) -> bool:
    """Whether the target is the database this service runs on, by address, port and name."""
    own = connection.settings_dict
    if connection.vendor != "postgresql" or target.scheme != "postgresql":
        return False
    same_name = target.database == own.get("NAME")
    same_port = target.port == int(own.get("PORT") or 5432)
    addresses = _addresses(target.host)
    if any(address.startswith("127.") or address == "::1" for address in addresses):
        addresses |= _this_machine()
    return same_name and same_port and bool(addresses & _addresses(own.get("HOST") or ""))


def server_identity(cursor) -> tuple:
    """(system identifier or None, database name) of the PostgreSQL server a cursor talks to.

    Compared before each run with the service's own: a name or address the
    checks above did not foresee still cannot reach the service's database.
    """
    cursor.execute("SELECT current_database()")
    database = cursor.fetchone()[0]
    try:
        cursor.execute("SAVEPOINT identity")
        cursor.execute("SELECT system_identifier FROM pg_control_system()")
        identifier = cursor.fetchone()[0]
        cursor.execute("RELEASE SAVEPOINT identity")
    except Exception:  # noqa: BLE001 - not allowed to this role: the name and address checks stand
        cursor.execute("ROLLBACK TO SAVEPOINT identity")
        identifier = None
    return identifier, database
