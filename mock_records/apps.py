from django.apps import AppConfig


class MockRecordsConfig(AppConfig):
    name = "mock_records"
