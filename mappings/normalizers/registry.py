"""Registry facts: a company's status from what the registry records."""

from __future__ import annotations

from typing import Any

from mappings.customer import RegistryStatus


def dissolved_if_dated(value: Any) -> RegistryStatus:
    """ARES sets ``datumZaniku`` only when the company ceased to exist; any date means dissolved.

    The engine calls this only for a present value; a spec gives ``default: active`` for
    the records without one.
    """
    del value  # the date itself is not kept: the status is what the canonical model holds
    return RegistryStatus.DISSOLVED
