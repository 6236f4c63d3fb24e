"""masking: personal data shown only as each role may see it, on every path out
of the server, with audited reveals and encryption at rest.

* Field policies (``kehu_field_policies``) are compiled into the schema: each
  personal field gets one extension that shows it CLEAR, PARTIAL, LAST4, HASH or
  REDACT for the viewer's role (a role a policy does not name: REDACT). Fields
  without a policy are untouched.
* Paths outside GraphQL fields — customer search and ordering, exports, audit-log
  values, event payloads for plugins not in ``trusted_plugins`` — ask the plugin's
  ``kehu_field_guard``.
* ``revealField`` (permission ``masking.reveal``) returns one clear value for a
  reason, rate-limited, with one ``Disclosure`` record; ``disclosureLog`` for admins.
* ``encrypted_fields`` are stored with AES-256-GCM under ``KEHU_MASKING_KEY`` (the
  environment only), with a blind index for exact lookup; ``kehu masking
  rotate-key`` re-encrypts in batches while the old key is still accepted.

Rules in ``service`` (keys in ``service.crypto``, the ORM hooks in
``service.storage``), GraphQL in ``graphql``, settings in ``settings``.
"""

from kehu import hookimpl


@hookimpl
def kehu_plugin_info():
    return {"api": ">=1,<2", "description": "Masking of personal fields, audited reveals, encryption at rest"}


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.masking.models"], "migrations": "kehu.plugins.masking.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import MaskingSettings

    return MaskingSettings


@hookimpl
def kehu_permissions():
    from kehu.access import Permission

    return [
        Permission("masking.reveal", "Reveal a masked personal field in clear, with a reason", ("ADMIN", "MANAGER")),
        Permission("masking.disclosures.read", "Read the disclosure log", ("ADMIN",), read=True),
    ]


@hookimpl
def kehu_field_policies():
    from kehu.policies import FieldPolicy, Strategy

    # Only the keys listed in personal_attributes are masked; the rest stay as they are.
    return [
        FieldPolicy(
            "Customer",
            "attributes",
            kind="attributes",
            roles={
                "ADMIN": Strategy.CLEAR,
                "MANAGER": Strategy.CLEAR,
                "AGENT": Strategy.CLEAR,
                "ANALYST": Strategy.REDACT,
            },
            columns=("core.Customer.attributes",),
        ),
    ]


@hookimpl
def kehu_field_guard(kehu):
    from .service import Masking
    from .settings import MaskingSettings

    return Masking(kehu, kehu.settings_for("masking", MaskingSettings))


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as schema

    schema.register(graphql)


@hookimpl
async def kehu_startup(kehu):
    from .service import start

    await start(kehu)


@hookimpl
def kehu_shutdown(kehu):
    from .service import masking_of

    masking_of(kehu).stop_encryption()


@hookimpl
async def kehu_bulk_loaded(customer_ids, kehu):
    from .service import index_customers

    await index_customers(kehu, customer_ids)


@hookimpl
async def kehu_customers_merged(survivor, merged):
    """The disclosure log follows the person; encrypted fields stay encrypted."""
    from .service.merging import merge_disclosures

    return await merge_disclosures(survivor.id, [c.id for c in merged])


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)
