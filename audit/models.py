"""Append-only audit events.

Nothing here references another app's rows: an event keeps public ids and name
snapshots, so no cascade can ever remove or rewrite it. The database itself refuses
UPDATE and DELETE on the table (see `audit.triggers`).
"""

from django.db import models


class CrossOrg(models.Func):
    """`(org = actor_org) IS FALSE`: the actor acted outside its own org.

    Spelled this way rather than `org <> actor_org` because PostgreSQL keeps statistics
    for this exact expression (see migration 0004) and so knows how few such events there
    are; it cannot estimate a comparison of two columns. A query must use the same
    expression for the partial index on it to apply (SQLite matches terms literally)."""

    template = "(%(expressions)s) IS FALSE"
    arg_joiner = " = "
    output_field = models.BooleanField()
    conditional = True

    def __init__(self):
        super().__init__(models.F("org"), models.F("actor_org"))


class Before(models.Expression):
    """`(occurred_at, id) < (at, event_id)`: older than a keyset position, newest first.

    One row-value comparison, which PostgreSQL and SQLite both turn into the bound of an
    index range scan over (…, occurred_at, id). Every page of the audit log is the same
    statement: the first one starts from a position after every event (TOP), a deeper
    one from its cursor, so reading page 500 is the same work as reading page 1."""

    conditional = True
    output_field = models.BooleanField()
    operator = "<"

    def __init__(self, at, event_id):
        super().__init__()
        self.at = at
        self.event_id = event_id

    def as_sql(self, compiler, connection):
        at = models.DateTimeField().get_db_prep_value(self.at, connection)
        time_column = compiler.compile(models.F("occurred_at").resolve_expression(compiler.query))[0]
        id_column = compiler.compile(models.F("id").resolve_expression(compiler.query))[0]
        return f"({time_column}, {id_column}) {self.operator} (%s, %s)", [at, self.event_id]


class After(Before):
    """`(occurred_at, id) > (at, event_id)`: newer than a keyset position (the page before
    it in the log's newest-first order), read oldest first up the same index."""

    operator = ">"


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    actor_id = models.CharField(max_length=40)
    actor_kind = models.CharField(max_length=16)
    actor_name = models.CharField(max_length=200)
    owner_id = models.CharField(max_length=40, blank=True, default="")
    owner_name = models.CharField(max_length=200, blank=True, default="")
    # The org the event belongs to (the workspace's org, else the actor's), and the
    # actor's own org: auditors see both their workspaces' events and what their
    # principals did elsewhere.
    org = models.CharField(max_length=64, blank=True, default="")
    actor_org = models.CharField(max_length=64, blank=True, default="")
    workspace = models.CharField(max_length=64, blank=True, default="")
    target_kind = models.CharField(max_length=32, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_name = models.CharField(max_length=200, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")
    prev_hash = models.CharField(max_length=64)
    # Not indexed: nothing looks an event up by its hash (verification walks the chain in
    # id order), and every index is another page each append writes.
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        # One index per filter of the audit log, each ending in the keyset (occurred_at, id)
        # (audit.selectors.events_page). No index on time alone: every reader is scoped to an
        # org or filtered, and that index would only tempt the planner into scanning all of
        # time for a rare workspace or action.
        indexes = [
            models.Index(fields=["org", "occurred_at", "id"], name="audit_org_time"),
            # What an org's principals did in other orgs: the second half of an auditor's
            # scope (see audit.selectors.scope_q). Partial, so it holds only those few events.
            models.Index(fields=["actor_org", "occurred_at", "id"], name="audit_cross_org_time", condition=models.Q(CrossOrg())),
            models.Index(fields=["actor_id", "occurred_at", "id"], name="audit_actor_time"),
            models.Index(fields=["owner_id", "actor_kind", "occurred_at", "id"], name="audit_owner_kind_time"),
            models.Index(fields=["workspace", "occurred_at", "id"], name="audit_workspace_time"),
            models.Index(fields=["action", "occurred_at", "id"], name="audit_action_time"),
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_name}"


class ChainHead(models.Model):
    """The single row every writer locks to append to the hash chain, in commit order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    hash = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)
    last_event_id = models.BigIntegerField(null=True)

    def __str__(self):
        return f"{self.count} events, head {self.hash[:12]}"
