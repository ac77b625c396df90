"""Class names as the participant's language gives them (studies/i18n.py: the study's class_names)."""

from django import template

from ..i18n import class_name as _class_name

register = template.Library()


@register.filter
def class_name(name):
    return _class_name(name)


@register.filter
def class_names(names):
    return [_class_name(name) for name in names]
