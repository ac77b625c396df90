from django.core.management.base import CommandError


def study_or_error(slug: str):
    """The study with this slug, or the one-line error every command gives for an unknown slug."""
    from studies.models import Study

    try:
        return Study.objects.get(slug=slug)
    except Study.DoesNotExist:
        raise CommandError(f"no study with slug {slug!r}") from None
