from django.apps import AppConfig


class SdkBridgeConfig(AppConfig):
    name = "sdk_bridge"
    verbose_name = "SDK bridge"
