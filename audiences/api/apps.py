from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ApiConfig(AppConfig):
    name = "audiences.api"
    label = "audiences_api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="audiences-api-cache-table")


def _create_cache_table(sender, using: str = "default", verbosity: int = 1, **kwargs) -> None:
    """Every `migrate` creates the database cache's table if it is missing (allauth counts sign-in attempts in it).

    Nothing to do when the cache is Redis; `createcachetable` skips tables that exist.
    """
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=max(0, verbosity - 1))
