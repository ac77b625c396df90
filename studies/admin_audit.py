"""The audit log in the admin: every staff action on studies and participants, read-only for everyone."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "via", "action", "study_slug", "summary"]
    list_filter = ["action", "via", "at"]
    search_fields = ["actor_name", "study_slug", "summary"]
    date_hierarchy = "at"
    fields = readonly_fields = ["at", "actor_name", "actor", "via", "action", "study", "study_slug", "summary", "data"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a log that its readers could edit would prove nothing

    @admin.display(description="details")
    def data(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True))
