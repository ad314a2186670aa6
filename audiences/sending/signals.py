"""News the sender gives the services without importing them (services import the sender)."""

from django.dispatch import Signal

# The first batch of a new audience created its customer list at Pinterest:
# audience_id, customer_list_id, status.
customer_list_created = Signal()

# The audience's customer list is gone at Pinterest (deleted in Ads Manager): audience_id.
customer_list_missing = Signal()
