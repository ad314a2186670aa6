from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Log lines carry the request's or the django-q2 task's id (ops.logs).
        from ops import logs

        logs.connect_signals()
        # A django-q2 cluster whose process was killed restarts whole instead of waiting for ever (ops.workers).
        from ops import workers

        workers.install()
