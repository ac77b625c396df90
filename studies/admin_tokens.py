"""API tokens in the admin: staff issue them (the key is shown once), list them and revoke them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.urls import reverse

from . import api_tokens
from .models import ApiToken


class IssueTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "studies"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        staff = get_user_model().objects.filter(is_staff=True, is_active=True)
        if request is not None and not request.user.is_superuser:
            staff = staff.filter(pk=request.user.pk)  # a researcher issues tokens for themselves only
        self.fields["user"].queryset = staff
        self.fields["user"].help_text = "the researcher who will use it (an active staff account)"
        if request is not None:
            self.fields["user"].initial = request.user.pk


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "scope", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = ["user", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]
    readonly_fields = ["user", "name", "prefix", "scope", "created_at", "created_by", "last_used_at", "revoked_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            form = IssueTokenForm

            class Bound(form):
                def __init__(self, *args, **kw):
                    super().__init__(*args, request=request, **kw)

            return Bound
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return IssueTokenForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the token stays listed with when it was revoked

    @admin.display(description="studies")
    def scope(self, obj):
        return ", ".join(s.slug for s in obj.studies.all()) or "every study"

    def save_model(self, request, obj, form, change):
        if change:
            return  # an issued token does not change; it is revoked
        request._issued_key = api_tokens.assign_new_key(obj)
        obj.created_by = request.user.get_username()
        obj.save()

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "admin/studies/apitoken/issued.html",
            {
                **self.admin_site.each_context(request),
                "title": "API token issued",
                "token": obj,
                "key": request._issued_key,
                "studies": [s.slug for s in obj.studies.all()],
                "api_url": request.build_absolute_uri(reverse("api:list_studies")).removesuffix("studies"),
                "docs_url": request.build_absolute_uri(reverse("api:openapi-view")),
            },
        )

    @admin.action(description="Revoke the selected tokens (for good)")
    def revoke(self, request, queryset):
        n = api_tokens.do_revoke_tokens(queryset)
        self.message_user(request, f"Revoked {n} token{'s' if n != 1 else ''}.", messages.SUCCESS)
