"""The settings of MEDIA_STORAGE=s3, from django-storages' standard environment names.

A function, so that config/settings.py and the tests (which point one process at a test server)
derive them the same way.
"""

from __future__ import annotations

import environ


def s3_settings(env: environ.Env) -> dict:
    bucket = env.str("AWS_STORAGE_BUCKET_NAME")
    endpoint = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    custom_domain = env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None
    region = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    protocol = env.str("AWS_S3_URL_PROTOCOL", default="https:")
    public_endpoint = env.str("AWS_S3_PUBLIC_ENDPOINT_URL", default="") or endpoint
    if custom_domain:
        media_url = f"{protocol}//{custom_domain}/"
    elif public_endpoint:
        media_url = f"{public_endpoint.rstrip('/')}/{bucket}/"
    else:
        media_url = f"https://{bucket}.s3.{region}.amazonaws.com/"
    return {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": env.str("AWS_ACCESS_KEY_ID", default="") or None,
        "AWS_SECRET_ACCESS_KEY": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
        "AWS_S3_PUBLIC_ENDPOINT_URL": public_endpoint,
        "AWS_S3_CUSTOM_DOMAIN": custom_domain,
        "AWS_S3_REGION_NAME": region,
        "AWS_S3_SIGNATURE_VERSION": "s3v4",
        # Self-hosted stores (SeaweedFS, MinIO) answer on one host name: the bucket goes in the path.
        "AWS_S3_ADDRESSING_STYLE": env.str("AWS_S3_ADDRESSING_STYLE", default="path" if endpoint else "auto"),
        "AWS_S3_URL_PROTOCOL": protocol,
        # Presigned links for staff (photographs, raw maps) expire after five minutes.
        "AWS_QUERYSTRING_EXPIRE": env.int("AWS_QUERYSTRING_EXPIRE", default=300),
        "AWS_DEFAULT_ACL": None,
        "AWS_STIMULI_ACL": env.str("AWS_STIMULI_ACL", default=""),
        # Names are content keys: a second save of a name is the same bytes, never a copy with a suffix.
        "AWS_S3_FILE_OVERWRITE": True,
        "MEDIA_URL": media_url,
        # Participants load stimuli from the store (or its CDN), not through the web nodes.
        "SERVE_STIMULI_WITHOUT_DJANGO": False,
    }


def s3_storage_backend() -> dict:
    return {"BACKEND": "config.storage.MediaStorage"}
