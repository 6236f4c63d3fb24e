"""Make room for ciphertext in the core columns that may be encrypted.

A sealed value (``kehu:e1:<key id>:<base64>``) is longer than the clear one; the
core's ``kehu_customer.phone`` (40) and ``email`` (254) are too narrow on
PostgreSQL. Widening a varchar is backwards compatible (the core's own rules still
limit the clear values), and SQLite does not enforce lengths, so nothing is done
there.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


async def widen(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(
        "ALTER TABLE kehu_customer ALTER COLUMN phone TYPE VARCHAR(255), ALTER COLUMN email TYPE VARCHAR(600)"
    )


class Migration(migrations.Migration):
    dependencies = [("masking", "0001_initial")]

    initial = False

    operations = [ops.RunPython(widen, ops.RunPython.noop)]
