from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and projects"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI description of token auth)
