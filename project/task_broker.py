"""django-q2's ORM broker (the default, without Redis), with its idle poll as one raw statement.

The cluster's pusher asks the broker for a task every Q_CLUSTER["poll"]
seconds (0.05: a pump starts that soon after an entry call wakes it), and
django-q2 builds its ORM query anew for each poll, most of the cluster's
CPU while nothing is queued. Here an empty queue is seen with one raw
SELECT; when a task is there, django-q2's own dequeue takes it, with its
compare-and-set on the lock, exactly as before.
"""

from __future__ import annotations

from time import sleep

from django.db import connection
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from project import db


class QuickPollORM(ORM):
    # settings.Q_CLUSTER["orm"] is "default": the queue is in the database `db` reads.
    def dequeue(self):
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        if not db.exists(OrmQ, "key = %s AND lock < %s", [self.list_key, now]):
            sleep(Conf.POLL)  # as django-q2 does on an empty queue
            return None
        return super().dequeue()
