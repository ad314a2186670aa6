from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Workspaces and Pinterest"

    def ready(self) -> None:
        import project.sqlite  # noqa: F401  (registers the WAL switch for SQLite connections)
        # Django's admin discovery imports admin.py only; these pages build on its classes, so they are
        # registered here, once the apps are loaded.
        from integrations import admin_pinterest  # noqa: F401
