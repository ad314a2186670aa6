"""Write-ahead logging for the embedded SQLite database.

WAL lets readers go on while one process writes. The mode is stored in the
database file, so it is switched on once, when a connection finds it off;
asking for it on every connection takes a lock each time and raced with
other processes closing the database ("disk I/O error").
"""

from django.db.backends.signals import connection_created
from django.dispatch import receiver


@receiver(connection_created)
def enable_wal(sender, connection, **kwargs) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
