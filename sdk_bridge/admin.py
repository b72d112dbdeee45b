from trackreplay.admin_site import register_app

register_app("sdk_bridge")
