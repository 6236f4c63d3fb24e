"""The ``[plugins.masking]`` section of plugins.toml.

```toml
[plugins.masking]
owner_sees_clear = true                 # an agent sees their own customers in clear
encrypted_fields = ["Customer.phone", "Customer.attributes.id_number"]
personal_attributes = { id_number = "id_number" }   # attribute key -> kind

[plugins.masking.fields."Customer.phone"]   # per field, per role
ANALYST = "LAST4"
MANAGER = "PARTIAL"
```

Keys never live here (nor in the database): ``KEHU_MASKING_KEY`` in the
environment. See ``kehu.plugins.masking`` for the whole picture.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kehu.models import Role
from kehu.policies import Strategy

# Core columns whose stored form may be ciphertext; ``Customer.attributes.<key>``
# encrypts one key inside the attributes JSON.
ENCRYPTABLE_COLUMNS = ("phone", "email", "address")


class MaskingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, dict[Role, Strategy]] = Field(
        default_factory=dict,
        description="Per field (policy key, e.g. 'Customer.phone'), per role: the strategy, "
        "overriding the declaring plugin's default.",
    )
    owner_sees_clear: bool = Field(
        default=False, description="A customer's own account owner sees that customer's fields in clear."
    )
    encrypted_fields: list[str] = Field(
        default_factory=list,
        description="Stored encrypted (AES-GCM): 'Customer.phone', 'Customer.email', "
        "'Customer.address', 'Customer.attributes.<key>'. Needs KEHU_MASKING_KEY.",
    )
    personal_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Keys of Customer.attributes holding personal data, with their kind "
        "(id_number, phone, email, name, text): masked by the Customer.attributes policy.",
    )
    reveal_limit: int = Field(default=20, ge=1, le=10_000, description="Reveals per viewer per window.")
    reveal_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    reason_min_length: int = Field(default=10, ge=1, le=500)
    trusted_plugins: list[str] = Field(
        default_factory=list,
        description="Plugins whose event handlers receive personal fields in clear; "
        "every other plugin receives copies masked as `untrusted_role` sees them.",
    )
    untrusted_role: Role = Role.ANALYST
    encrypt_existing_on_startup: bool = Field(
        default=True, description="Encrypt clear values of encrypted fields at start-up (in batches)."
    )

    @field_validator("encrypted_fields")
    @classmethod
    def _known_columns(cls, value: list[str]) -> list[str]:
        for key in value:
            parts = key.split(".")
            ok = parts[0] == "Customer" and (
                (len(parts) == 2 and parts[1] in ENCRYPTABLE_COLUMNS)
                or (len(parts) == 3 and parts[1] == "attributes" and parts[2])
            )
            if not ok:
                raise ValueError(
                    f"'{key}' cannot be encrypted (use Customer.phone, Customer.email, Customer.address "
                    "or Customer.attributes.<key>)"
                )
        return sorted(set(value))

    @property
    def encrypted_columns(self) -> tuple[str, ...]:
        return tuple(k.split(".")[1] for k in self.encrypted_fields if k.count(".") == 1)

    @property
    def encrypted_attributes(self) -> tuple[str, ...]:
        return tuple(k.split(".", 2)[2] for k in self.encrypted_fields if k.count(".") == 2)
