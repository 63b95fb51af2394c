"""Widgets the screens are built from; each keeps its CSS and bindings with it."""
