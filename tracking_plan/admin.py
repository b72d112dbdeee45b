from trackreplay.admin_site import register_app

register_app("tracking_plan")
