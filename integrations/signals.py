from django.dispatch import Signal

# Sent after a workspace (re)connects Pinterest: held users may be sent again.
connection_valid = Signal()
