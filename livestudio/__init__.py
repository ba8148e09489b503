"""LiveStudio: a self-hosted live-shopping studio."""

__version__ = "0.1.0"
