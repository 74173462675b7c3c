"""Domain signals the identity services send inside their transaction.

Receivers (identity/receivers.py) run synchronously in the sender's transaction: a
receiver that fails rolls the whole change back.
"""

from django.dispatch import Signal

# principal (a human), actor
principal_deactivated = Signal()
# principal (a human, still in the database), actor
principal_deleting = Signal()
# agent, previous_owner, actor
agent_transferred = Signal()
# agent, actor
agent_revoked = Signal()
# principal (the former service account, now an agent), actor
service_adopted = Signal()
# service (a service account, just revoked), actor
service_revoked = Signal()
