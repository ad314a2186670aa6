"""Named, expiring leases shared by every process (conditional UPDATEs, no row locks).

A lease only keeps workers from wasting effort on the same loop or list;
the per-record claims in audiences.sending.records are what prevent double sends.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audiences.models import Lease


def acquire(name: str, owner: str, *, seconds: float) -> bool:
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    taken = Lease.objects.filter(Q(name=name) & (Q(expires_at__lt=now) | Q(expires_at__isnull=True) | Q(owner=owner))).update(
        owner=owner, expires_at=expires
    )
    if taken:
        return True
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, owner=owner, expires_at=expires)
        return True
    except IntegrityError:
        return False


def renew(name: str, owner: str, *, seconds: float) -> bool:
    return bool(
        Lease.objects.filter(name=name, owner=owner).update(expires_at=timezone.now() + timedelta(seconds=seconds))
    )


def release(name: str, owner: str) -> None:
    Lease.objects.filter(name=name, owner=owner).update(owner="", expires_at=None)


def release_any(name: str) -> None:
    """End the lease whoever holds it (a pump that started ends its start gate)."""
    Lease.objects.filter(name=name).update(owner="", expires_at=None)


def is_live(name: str) -> bool:
    return Lease.objects.filter(name=name, expires_at__gt=timezone.now()).exists()

