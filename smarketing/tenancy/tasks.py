from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from .db import ORG_SETTING, current_organization_id
from .models import Invitation, Membership
from .tasking import tenant_task


@tenant_task(
    queue="default",
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=30,
    max_retries=8,
)
def send_invitation_email(organization, invitation_id: int) -> bool:
    from .services import invitation_url

    invitation = Invitation.objects.for_org(organization).filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_open:
        return False
    with translation.override(organization.language):
        context = {
            "organization": organization,
            "invitation": invitation,
            "inviter": invitation.invited_by,
            "url": invitation_url(invitation),
            "days": settings.INVITATION_MAX_AGE_DAYS,
        }
        send_mail(
            subject=_("You are invited to join %(name)s on Smarketing")
            % {"name": organization.name},
            message=render_to_string("tenancy/email/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    return True


@tenant_task(queue="default")
def probe(organization) -> dict:
    """What a task sees of the database: used by ``manage.py check_worker`` and by the
    isolation tests. Raw SQL on purpose: it must see only this organization's rows
    because of row-level security, not because of an ORM filter."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT current_setting(%s, true), current_user", [ORG_SETTING])
            setting, db_user = cursor.fetchone()
        else:  # the embedded SQLite default has no RLS setting and no roles
            setting, db_user = str(current_organization_id()), None
        cursor.execute("SELECT DISTINCT organization_id FROM tenancy_membership")
        visible = sorted(row[0] for row in cursor.fetchall())
    return {
        "organization_id": organization.pk,
        "setting": setting,
        "db_user": db_user,
        "membership_organizations": visible,
        "memberships": Membership.unscoped.count(),
    }
