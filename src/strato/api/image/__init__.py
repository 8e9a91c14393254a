"""The image front-end: Glance v2 under /image."""
