from django.utils.functional import SimpleLazyObject


def navigation(request):
    """What the top bar needs: whether to show the audit log, and how many proposals wait.
    The count is lazy: pages that never render it never query it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_audit": False, "pending_proposals": 0}

    def count():
        from .selectors import pending_count

        return pending_count(user.principal)

    return {"can_audit": user.can_audit, "pending_proposals": SimpleLazyObject(count)}
