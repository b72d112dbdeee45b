"""Scenarios and their rules (versioned), the project's global scenario, rule inference and repair."""
