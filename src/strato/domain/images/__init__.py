"""Images: the Glance domain (no HTTP front-end code here)."""
