"""Domain signals the workspace services send inside their transaction."""

from django.dispatch import Signal

# membership (still in the database), actor
membership_removed = Signal()
# membership (with the new role saved), old_role, actor
membership_role_changed = Signal()
