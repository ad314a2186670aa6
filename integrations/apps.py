from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Workspaces and Pinterest"

    def ready(self) -> None:
        import project.sqlite  # noqa: F401  (registers the WAL switch for SQLite connections)
