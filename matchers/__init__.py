"""Identifier detection, keyed hashing and the scan engine. Imports nothing networked."""
