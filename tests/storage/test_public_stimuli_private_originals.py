"""With MEDIA_STORAGE=s3, participants load stimuli straight from the bucket, cached for a year; photographs
and raw maps stay private, and staff reach them through short-lived presigned URLs."""

import urllib.parse

import pytest
from django.test import Client

from tests.support import factories

pytestmark = [pytest.mark.storage, pytest.mark.django_db]


@pytest.fixture
def study(s3_media):
    study = factories.make_class_discrimination_study()
    factories.with_raw_map(factories.first_stimulus(study))
    return study


def test_stimuli_are_public_and_immutable_and_their_url_is_the_bucket(s3_media, study):
    stim = factories.first_stimulus(study)
    url = stim.png.url
    assert url.startswith(f"{s3_media.endpoint}/{s3_media.bucket}/stimuli/") and "Signature" not in url
    status, headers, body = s3_media.anonymous_get(url)
    assert status == 200 and body == stim.png.open("rb").read()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"] == "image/png"


def test_photographs_and_raw_maps_are_refused_to_anonymous_readers(s3_media, study):
    stim = factories.first_stimulus(study)
    for field_file in (stim.image.file, stim.raw_map):
        plain = f"{s3_media.endpoint}/{s3_media.bucket}/{field_file.name}"
        assert s3_media.anonymous_get(plain)[0] == 403


def test_staff_are_redirected_to_presigned_urls_that_expire_in_minutes(s3_media, study, researcher_client):
    stim = factories.first_stimulus(study)
    for url, expected in (
        (f"/staff/images/{stim.image_id}/file", stim.image.file.open("rb").read()),
        (f"/staff/stimuli/{stim.pk}/raw-map.npy", stim.raw_map.open("rb").read()),
    ):
        response = researcher_client.get(url)
        assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
        location = response["Location"]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        assert location.startswith(s3_media.endpoint) and int(query["X-Amz-Expires"][0]) == 300
        status, headers, body = s3_media.anonymous_get(location)
        assert status == 200 and body == expected and "attachment" in headers["Content-Disposition"]
        assert Client().get(url).status_code == 302 and "/admin/login/" in Client().get(url)["Location"]


def test_a_missing_private_file_is_a_404_not_a_redirect(s3_media, study, researcher_client):
    stim = factories.first_stimulus(study)
    stim.raw_map.storage.delete(stim.raw_map.name)
    assert researcher_client.get(f"/staff/stimuli/{stim.pk}/raw-map.npy").status_code == 404


def test_participant_pages_allow_images_from_the_bucket_origin(s3_media, study, client):
    from studies.participants.views import content_security_policy

    assert f"img-src 'self' data: blob: {s3_media.endpoint}" in content_security_policy()


def test_the_start_up_command_creates_the_bucket_with_public_stimuli_and_is_idempotent(s3_media):
    import io as _io

    from django.core.management import call_command

    client = s3_media.client()
    client.delete_bucket(Bucket=s3_media.bucket)
    out = _io.StringIO()
    call_command("ensure_media_bucket", stdout=out)
    assert f"created bucket {s3_media.bucket}" in out.getvalue()
    call_command("ensure_media_bucket", stdout=out)  # a second start-up changes nothing
    client.put_object(Bucket=s3_media.bucket, Key="stimuli/ab/x.png", Body=b"png")
    client.put_object(Bucket=s3_media.bucket, Key="images/ab/x.png", Body=b"photo")
    assert s3_media.anonymous_get(f"{s3_media.endpoint}/{s3_media.bucket}/stimuli/ab/x.png")[0] == 200
    assert s3_media.anonymous_get(f"{s3_media.endpoint}/{s3_media.bucket}/images/ab/x.png")[0] == 403


def test_browsers_get_urls_on_the_public_endpoint_when_servers_use_an_internal_one(s3_media, study, settings):
    # Servers reach the store as 127.0.0.1, browsers as localhost (in compose: s3:8333 and the public name).
    public = s3_media.endpoint.replace("127.0.0.1", "localhost")
    settings.AWS_S3_PUBLIC_ENDPOINT_URL = public
    stim = factories.first_stimulus(study)
    assert stim.png.url.startswith(f"{public}/{s3_media.bucket}/stimuli/")
    presigned = stim.image.file.url
    assert presigned.startswith(public) and "X-Amz-Signature" in presigned
    assert s3_media.anonymous_get(presigned)[0] == 200  # the signature holds for the public host
