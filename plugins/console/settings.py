"""The ``[plugins.console]`` section of plugins.toml, validated at start-up.

```toml
[plugins.console]
currency = "CNY"        # ISO 4217: how amounts and money figures are shown
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY, USD, EUR")
