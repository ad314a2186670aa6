from django.dispatch import Signal

# Sent after a workspace (re)connects Pinterest: held users may be sent again.
connection_valid = Signal()

# Sent when a workspace's connection, ad account choice or API keys change, with
# workspace, action, target and details (no secret): the audiences app keeps the audit log.
audited = Signal()
