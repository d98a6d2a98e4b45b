"""Helpers shared by Arco's tests."""
