"""Verification of test records against scenarios: reports, anomalies, pass rates, nested-JSON diff."""
