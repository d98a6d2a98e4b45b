"""Arco."""
