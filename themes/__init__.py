"""Textual themes shipped as data."""
