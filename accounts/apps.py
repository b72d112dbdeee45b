from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and projects"

    def ready(self) -> None:
        from . import lockout, schema  # noqa: F401  (lockout's signal receivers; the OpenAPI description of token auth)
