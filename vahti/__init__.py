"""vahti: leak monitor for sensitive personal data (CLI, configuration and wiring)."""

__version__ = "0.1.0"
