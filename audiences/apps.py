from django.apps import AppConfig
from django.db.models.signals import post_migrate

from project.gc_tuning import settle_after_startup


class AudiencesConfig(AppConfig):
    name = "audiences"
    verbose_name = "Canvases and audiences"

    def ready(self) -> None:
        # Imported here, not at the top: Django loads apps.py before any model can be imported.
        from audiences.sending.signals import customer_list_created, customer_list_missing
        from audiences.services.audiences import customer_list_created as store_customer_list
        from audiences.services.audiences import customer_list_missing as forget_customer_list
        from audiences.services.audit import on_integration_event
        from integrations.signals import audited, connection_valid

        connection_valid.connect(_resume_held_users, dispatch_uid="audiences-resume-held-users")
        audited.connect(on_integration_event, dispatch_uid="audiences-audit-integrations")
        customer_list_created.connect(store_customer_list, dispatch_uid="audiences-store-customer-list")
        customer_list_missing.connect(forget_customer_list, dispatch_uid="audiences-forget-customer-list")
        post_migrate.connect(_install_schedules, sender=self, dispatch_uid="audiences-install-schedules")
        # Every process of the service (web, workers, commands) loads this app once, at start.
        settle_after_startup()


def _install_schedules(sender, **kwargs) -> None:
    """Every `migrate` installs the sender and sweeper schedules (idempotent, by name)."""
    # Imported here, not at the top: Django loads apps.py before any model can be imported.
    from audiences.tasks import schedules_install

    schedules_install()


def _resume_held_users(sender, connection, **kwargs) -> None:
    """After a reconnection, users held while the token was invalid are sent at once."""
    from django.utils import timezone

    # Imported here, not at the top: Django loads apps.py before any model can be imported.
    from audiences.sending import pump, retrying

    if retrying.resume_held(connection_id=connection.pk, now=timezone.now()):
        pump.wake()
