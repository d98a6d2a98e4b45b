"""Arco: an event-sourced data orchestrator."""

__version__ = "0.1.0"
