from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from trackreplay.admin_site import register_app

from .models import User

admin.site.register(User, UserAdmin)
register_app("accounts", {"PersonalToken": ("name", "user", "hint", "last_used_at", "revoked_at")})
