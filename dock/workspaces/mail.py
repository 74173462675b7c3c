"""The invitation email, sent through Django's mail framework once the invitation is
committed (a rolled-back invitation never reaches anyone's inbox)."""

import logging

from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from .models import Invitation

log = logging.getLogger(__name__)


def invitation_message(*, invitation: Invitation, link: str) -> tuple[str, str]:
    context = {"invitation": invitation, "workspace": invitation.workspace, "inviter": invitation.invited_by, "link": link}
    subject = render_to_string("workspaces/email/invitation_subject.txt", context).strip().replace("\n", " ")
    body = render_to_string("workspaces/email/invitation.txt", context)
    return subject, body


def invitation_send(*, invitation: Invitation, link: str) -> None:
    """Queue the email for after the commit. The link carries the only copy of the token,
    so it lives in this closure and nowhere else."""
    subject, body = invitation_message(invitation=invitation, link=link)
    recipient = invitation.email

    def send():
        try:
            send_mail(subject, body, None, [recipient])
        except Exception:
            # The inviter also sees the link to copy; a mail outage must not fail their request.
            log.exception("could not send the invitation email for invitation %s", invitation.pk)

    transaction.on_commit(send)
