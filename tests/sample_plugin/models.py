from tortoise import fields
from tortoise.models import Model


class Sticker(Model):
    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name="stickers", on_delete=fields.RESTRICT)
    label = fields.CharField(max_length=50)

    class Meta:
        table = "test_sticker"
