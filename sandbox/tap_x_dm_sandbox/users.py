"""The sandbox's user: an X User object with the fields X may send about it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any

USER_FIELDS = (
    "created_at",
    "description",
    "location",
    "profile_image_url",
    "protected",
    "url",
    "verified",
)


@dataclass(frozen=True)
class SandboxUser:
    """A user of the sandbox; ``None`` means the field is unknown and never sent."""

    id: str
    username: str
    name: str
    created_at: str | None = None
    description: str | None = None
    protected: bool | None = None
    verified: bool | None = None
    location: str | None = None
    profile_image_url: str | None = None
    url: str | None = None
    #: Not an X field: X answers `Forbidden` for this user (events files: `"suspended": true`).
    suspended: bool | None = None

    def as_json(self, fields: Collection[str]) -> dict[str, Any]:
        """Return the X User object: id, name and username always, others if asked and known."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "username": self.username}
        for name in USER_FIELDS:
            if name in fields:
                value = getattr(self, name)
                if value is not None:
                    out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxUser:
        """Build a user from an X User object (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for required in ("id", "username", "name"):
            if required not in kwargs:
                raise ValueError(f"user object without {required!r}: {data!r}")
        kwargs["id"] = str(kwargs["id"])
        return cls(**kwargs)
