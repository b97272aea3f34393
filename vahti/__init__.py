"""vahti: leak monitor for sensitive personal data (CLI, configuration and wiring)."""

__version__ = "0.6.0"  # CHANGELOG.md; recorded in the database meta (vahti_version)
