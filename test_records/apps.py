from django.apps import AppConfig


class TestRecordsConfig(AppConfig):
    name = "test_records"
