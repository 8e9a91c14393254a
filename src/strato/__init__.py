"""Strato: a self-hosted, OpenStack-compatible storage cloud."""

__version__ = "0.1.0"
