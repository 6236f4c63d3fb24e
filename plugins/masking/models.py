"""The masking plugin's tables: the disclosure log and the blind index.

Neither holds a personal value: a disclosure names who saw which field of whom
and why, and a blind index row holds a keyed digest (HMAC) of a value.
"""

from tortoise import fields
from tortoise.models import Model


class Disclosure(Model):
    """One reveal of a masked field in clear: append-only, written in the same
    transaction as the reveal."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    actor = fields.ForeignKeyField("core.AccountOwner", related_name="disclosures", on_delete=fields.RESTRICT)
    actor_label = fields.CharField(max_length=300, default="")
    customer = fields.ForeignKeyField("core.Customer", related_name="disclosures", on_delete=fields.RESTRICT)
    field = fields.CharField(max_length=200)
    reason = fields.TextField()
    request_id = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "masking_disclosure"
        indexes = (("customer_id", "at"), ("actor_id", "at"))


class BlindIndex(Model):
    """A keyed digest of an encrypted field's value, for exact-match lookup: one row
    per customer, field and key (during a key rotation both keys' digests exist)."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name="blind_indexes", on_delete=fields.CASCADE)
    field = fields.CharField(max_length=200)
    digest = fields.CharField(max_length=64)

    class Meta:
        table = "masking_blind_index"
        indexes = (("field", "digest"), ("customer_id", "field"))
