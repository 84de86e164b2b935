from django.contrib import admin

from accounts.models import ApiToken, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["pseudonym", "role", "is_active", "date_joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["pseudonym"]
    readonly_fields = ["pseudonym", "password", "last_login", "date_joined"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "hint", "user", "created_at", "last_used_at"]
    readonly_fields = ["token_hash", "hint"]
