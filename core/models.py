"""The core's Tortoise models: the ``core`` Tortoise app.

Customers are archived, never deleted, and interactions are never deleted: every
foreign key to them is ``RESTRICT``. All times are timezone-aware UTC; money is
``Decimal``.
"""

from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Role(str, Enum):
    ADMIN = "ADMIN"
    MANAGER = "MANAGER"
    AGENT = "AGENT"
    ANALYST = "ANALYST"


class CustomerKind(str, Enum):
    PERSON = "PERSON"
    ORGANIZATION = "ORGANIZATION"


class InteractionKind(str, Enum):
    CALL = "CALL"
    VISIT = "VISIT"
    EMAIL = "EMAIL"
    MEETING = "MEETING"
    MESSAGE = "MESSAGE"
    PURCHASE = "PURCHASE"
    NOTE = "NOTE"


class Direction(str, Enum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"
    INTERNAL = "INTERNAL"


class TokenKind(str, Enum):
    SESSION = "SESSION"
    API = "API"


class OutboxKind(str, Enum):
    EVENT = "EVENT"  # an event hook call
    JOB = "JOB"  # one scheduled run of a periodic job (kehu.jobs)


class OutboxState(str, Enum):
    PENDING = "PENDING"  # not delivered yet, or waiting for its next attempt
    DONE = "DONE"
    FAILED = "FAILED"  # gave up after the last retry: the dead letters admins see


class AccountOwner(Model):
    """A staff member who signs in and looks after customers (客户经理)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    # The sign-in name; stored lower-case.
    email = fields.CharField(max_length=254, unique=True)
    # What the owner may do and see (kehu.access): ADMIN and ANALYST see every
    # customer, a MANAGER their team's, an AGENT their own.
    role = fields.CharEnumField(Role, max_length=16)
    # Managers see the customers of the owners of their team ("" : no team).
    team = fields.CharField(max_length=100, default="", db_index=True)
    # Inactive owners cannot sign in and cannot be given customers; their history stays.
    active = fields.BooleanField(default=True)
    # Service accounts exist for API tokens; they cannot sign in with a password.
    is_service = fields.BooleanField(default=False)
    # argon2id; null: cannot sign in with a password. Never shown, never exported.
    password_hash = fields.CharField(max_length=255, null=True)
    # What the owner chose to read pages in (kehu.i18n.Language); null: the browser's.
    language = fields.CharField(max_length=16, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "kehu_account_owner"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Customer(Model):
    """A person or organization the company does business with."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    # The id other systems know the customer by (an old CRM, a shop): the key of
    # upserts and history imports. Unique when set; NULLs do not collide.
    external_id = fields.CharField(max_length=200, null=True, unique=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(CustomerKind, max_length=16, default=CustomerKind.PERSON)
    # Personal data (email, phone, address): the masking plugin may show them
    # altered, or store them encrypted — read them through GraphQL or kehu's
    # services when a person will see them.
    email = fields.CharField(max_length=254, null=True, db_index=True)
    phone = fields.CharField(max_length=40, null=True, db_index=True)
    address = fields.TextField(null=True)
    region = fields.CharField(max_length=100, null=True, db_index=True)
    industry = fields.CharField(max_length=100, null=True)
    # Normalised, sorted, unique; mirrored into CustomerTag for indexed filtering.
    tags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    # Free-form facts (a JSON object of strings, numbers, booleans, small lists);
    # Customer.attributes in GraphQL.
    attributes: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    # The account owner who looks after the customer; null: nobody yet. Decides who
    # sees the customer (kehu.access.visible_customers).
    owner: fields.ForeignKeyNullableRelation[AccountOwner] = fields.ForeignKeyField(
        "core.AccountOwner", related_name="customers", null=True, on_delete=fields.RESTRICT
    )
    owner_id: int | None  # Tortoise adds the column attribute of each foreign key
    # When the latest interaction occurred (kept by log_interaction).
    last_interaction_at = fields.DatetimeField(null=True, db_index=True)
    # Set when archived (archiveCustomer): never deleted. Lists leave archived
    # customers out unless a filter asks; a merge archives the duplicate.
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)
    # Normalised keys (kehu.matching), kept with every write of name, e-mail and
    # phone: exact duplicate lookups by index, search by pinyin and by a phone
    # number written any way. Where e-mail or phone is encrypted at rest, its key
    # holds a keyed digest instead (kehu.policies.FieldGuard.stored_key).
    email_key = fields.CharField(max_length=254, null=True, db_index=True)
    phone_key = fields.CharField(max_length=100, null=True, db_index=True)
    name_key = fields.CharField(max_length=200, null=True, db_index=True)
    name_pinyin = fields.CharField(max_length=400, null=True, db_index=True)
    name_initials = fields.CharField(max_length=100, null=True)
    # Set on a customer archived by a merge: the customer it now is. Its global
    # id resolves there (kehu.customers.resolve_customer_ids).
    merged_into: fields.ForeignKeyNullableRelation["Customer"] = fields.ForeignKeyField(
        "core.Customer", related_name="merged_customers", null=True, on_delete=fields.RESTRICT
    )
    merged_into_id: int | None

    class Meta:
        table = "kehu_customer"
        # (name, id) and (updated_at, id): the list's orderings that have no index of
        # their own, so that any page of them — first or 5,000th — is a range scan.
        indexes = (("owner_id", "archived_at"), ("name", "id"), ("updated_at", "id"))

    def __str__(self) -> str:
        return self.name


class DuplicateStatus(str, Enum):
    OPEN = "OPEN"  # waiting for someone to merge or dismiss it
    DISMISSED = "DISMISSED"  # "not a duplicate": never proposed again


class DuplicateSource(str, Enum):
    SCAN = "SCAN"  # kehu dedupe scan
    ENTRY = "ENTRY"  # found when the customer was created or changed
    IMPORT = "IMPORT"  # an import created it although its key was taken


class DuplicatePair(Model):
    """Two customers that may be one (``customer_a_id < customer_b_id``), with
    the score and reasons that say why, until merged or dismissed."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer_a: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "core.Customer", related_name=False, on_delete=fields.RESTRICT
    )
    customer_a_id: int
    customer_b: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "core.Customer", related_name=False, on_delete=fields.RESTRICT
    )
    customer_b_id: int
    score = fields.SmallIntField()
    reasons: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharEnumField(DuplicateStatus, max_length=16, default=DuplicateStatus.OPEN)
    source = fields.CharEnumField(DuplicateSource, max_length=16)
    found_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by: fields.ForeignKeyNullableRelation[AccountOwner] = fields.ForeignKeyField(
        "core.AccountOwner", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    decided_by_id: int | None
    note = fields.CharField(max_length=500, default="")

    class Meta:
        table = "kehu_duplicate_pair"
        unique_together = (("customer_a_id", "customer_b_id"),)
        indexes = (("status", "score"), ("customer_b_id",))


class CustomerTag(Model):
    """One row per (customer, tag): lets ``tags`` filters use an index."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "core.Customer", related_name="tag_rows", on_delete=fields.CASCADE
    )
    customer_id: int
    tag = fields.CharField(max_length=64)

    class Meta:
        table = "kehu_customer_tag"
        unique_together = (("customer_id", "tag"),)
        indexes = (("tag", "customer_id"),)


class Interaction(Model):
    """One touch point with a customer. PURCHASE interactions carry an amount."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "core.Customer", related_name="interactions", on_delete=fields.RESTRICT
    )
    customer_id: int
    # Who handled it (the account owner who logged it, unless given); null: nobody.
    owner: fields.ForeignKeyNullableRelation[AccountOwner] = fields.ForeignKeyField(
        "core.AccountOwner", related_name="interactions", null=True, on_delete=fields.RESTRICT
    )
    owner_id: int | None
    kind = fields.CharEnumField(InteractionKind, max_length=16)
    direction = fields.CharEnumField(Direction, max_length=16, default=Direction.OUTBOUND)
    # When it happened (UTC): may lie in the past (an import), never far in the future.
    occurred_at = fields.DatetimeField(db_index=True)
    subject = fields.CharField(max_length=300, default="")
    notes = fields.TextField(default="")
    # Money, two decimals: required on PURCHASE, null on every other kind.
    amount = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    # When to contact the customer next; "My day" lists the latest one per customer.
    next_follow_up_at = fields.DatetimeField(null=True, db_index=True)
    # Sent by clients that retry: the same key never logs a second interaction.
    # Scoped to the customer, so a key says nothing about, and cannot block, the
    # interactions of customers the caller may not see.
    idempotency_key = fields.CharField(max_length=100, null=True)
    # The id of the record in the system it came from (an order number): an
    # import or a bulk push that runs twice finds it and writes nothing new.
    external_id = fields.CharField(max_length=200, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kehu_interaction"
        indexes = (("customer_id", "occurred_at"), ("owner_id", "occurred_at"))
        unique_together = (("customer_id", "idempotency_key"),)


class AccessToken(Model):
    """A bearer token: a sign-in session or a named API token. Only its SHA-256 is stored."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    owner: fields.ForeignKeyRelation[AccountOwner] = fields.ForeignKeyField(
        "core.AccountOwner", related_name="tokens", on_delete=fields.RESTRICT
    )
    owner_id: int
    kind = fields.CharEnumField(TokenKind, max_length=16)
    name = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "kehu_access_token"


class LoginThrottle(Model):
    """Failed sign-ins per account (``email:…``) and per client address (``ip:…``).

    Kept in the database so that every worker sees the same counts.
    """

    _no_comments = True

    key = fields.CharField(max_length=300, primary_key=True)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "kehu_login_throttle"


class AuditEntry(Model):
    """One append-only record per successful write, committed with the write itself."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    # The account owner who made the write; null: kehu itself (a job, an event handler).
    actor_id = fields.IntField(null=True, db_index=True)
    # Who, in words ("kehu import", a plugin's name) when there is no actor.
    actor_label = fields.CharField(max_length=300, default="")
    # The mutation's name, or the write scope's ("loyalty.accruePurchase").
    operation = fields.CharField(max_length=100)
    # What changed first (record_change): its type name and id.
    entity_type = fields.CharField(max_length=100, null=True, db_index=True)
    entity_id = fields.CharField(max_length=64, null=True)
    # {field: {"before": …, "after": …}} of the first entity recorded, and the other
    # entities' changes under "Type:id" (kehu.writes.record_change).
    changes: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    request_id = fields.CharField(max_length=64, null=True)
    # The outbox event whose handler made this write (``write_scope(event_id=...)``):
    # one write per event and operation, however often the event is delivered.
    event_id = fields.BigIntField(null=True)

    class Meta:
        table = "kehu_audit_entry"
        indexes = (("entity_type", "entity_id"),)
        unique_together = (("event_id", "operation"),)


class RateBucket(Model):
    """Cost points spent by one caller in one minute (PostgreSQL deployments, so
    that every worker counts against the same budget)."""

    _no_comments = True

    key = fields.CharField(max_length=300, primary_key=True)  # "<caller>@<minute>"
    used = fields.IntField(default=0)
    minute = fields.BigIntField(db_index=True)

    class Meta:
        table = "kehu_rate_bucket"


class TrustedDocument(Model):
    """A GraphQL document the server accepts in trusted-documents mode, by the
    SHA-256 of its exact text (``kehu documents add``)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    sha256 = fields.CharField(max_length=64, unique=True)
    body = fields.TextField()
    # Operation names in the document, space-separated: for `kehu documents list`.
    operations = fields.CharField(max_length=500, default="")
    # Where it came from: a file path, or "plugin:<name>" for a plugin's own operations.
    source = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kehu_trusted_document"


class OutboxEvent(Model):
    """An event hook call (or a periodic job's run) waiting for delivery.

    Written in the same transaction as the write that caused it, delivered after
    the commit, at least once (kehu.server.outbox). ``remaining`` lists the
    plugins whose handlers have not succeeded yet (null: every implementation).
    """

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(OutboxKind, max_length=8, default=OutboxKind.EVENT)
    # The hook (``kehu_interaction_logged``) or the job (``complaints.sla``).
    name = fields.CharField(max_length=200)
    # The live event topic (``customer.created``) of a ``kehu_event_published`` call.
    topic = fields.CharField(max_length=100, null=True)
    arguments: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    actor_id = fields.IntField(null=True)
    request_id = fields.CharField(max_length=64, null=True)
    # One row per key: a periodic job's slot (``job:complaints.sla:29401``).
    dedupe_key = fields.CharField(max_length=200, null=True, unique=True)
    state = fields.CharEnumField(OutboxState, max_length=8, default=OutboxState.PENDING)
    remaining: fields.JSONField[list[str] | None] = fields.JSONField(null=True)
    attempts = fields.IntField(default=0)
    due_at = fields.DatetimeField()
    locked_by = fields.CharField(max_length=64, null=True)
    locked_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "kehu_outbox"
        indexes = (("state", "due_at"),)
