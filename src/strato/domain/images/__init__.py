"""Images: the Glance domain (no HTTP)."""
