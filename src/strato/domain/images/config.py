"""The image service's options, gathered from the server settings once."""

from __future__ import annotations

from dataclasses import dataclass, field

UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class ImageQuotas:
    """Per-project limits (-1: none), as Glance's unified limits name them."""

    image_count_total: int = UNLIMITED
    image_size_total: int = UNLIMITED
    """Bytes of image data (Glance counts MiB; Strato counts bytes)."""
    image_stage_total: int = UNLIMITED
    image_count_uploading: int = UNLIMITED


@dataclass(frozen=True, slots=True)
class ImageConfig:
    size_cap: int = 1 << 40
    hash_algo: str = "sha512"
    """Glance's `hashing_algorithm`: what `os_hash_value` is."""
    delayed_delete: bool = False
    scrub_time: float = 3600.0
    import_methods: tuple[str, ...] = ("glance-direct", "web-download", "copy-image")
    import_allowed_hosts: tuple[str, ...] = ()
    import_allowed_ports: tuple[int, ...] = (80, 443)
    conversion_format: str | None = None
    inject_properties: dict[str, str] = field(default_factory=dict)
    task_ttl: float = 48 * 3600.0
    import_wait: float = 60.0
    """How long POST /import waits for an import to finish before answering 202 anyway:
    clients that wait on the image stop at `importing` (openstacksdk does)."""
    quotas: ImageQuotas = field(default_factory=ImageQuotas)
    property_quota: int = 128
    tag_quota: int = 128
    member_quota: int = 128
