"""Test records: the tracking events captured in one run, its step timeline and health flags."""
