from django.apps import AppConfig


class MockRecordsConfig(AppConfig):
    name = "mock_records"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)
