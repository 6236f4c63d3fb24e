"""Masking rules: strategies, the compiled policy table, the field guard the core
asks, reveals with their disclosure log, and the encryption maintenance jobs.

No GraphQL here.

The modules: ``strategies``, ``guard`` (the policy table and the field guard),
``reveal``, ``encryption`` (start-up and maintenance jobs), ``crypto`` (keys,
AES-GCM, blind indexes), ``storage`` (the ORM hooks that encrypt and decrypt).
Other modules of the plugin import from here.
"""

from .encryption import check_stored_keys, clear_value_count, index_customers, reseal, start
from .guard import Masking, masking_of
from .reveal import reveal_field, revealable_key
from .strategies import apply_strategy, last4, partial

__all__ = [
    "apply_strategy",
    "check_stored_keys",
    "clear_value_count",
    "index_customers",
    "last4",
    "Masking",
    "masking_of",
    "partial",
    "reseal",
    "reveal_field",
    "revealable_key",
    "start",
]
