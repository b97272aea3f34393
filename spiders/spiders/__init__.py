"""Spiders, one module per source kind."""
