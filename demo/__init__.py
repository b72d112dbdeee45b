"""A small shop web app that stands in for a real app in the demo and the end-to-end tests (see README.md)."""
