"""Media in S3-compatible object storage (django-storages), selected by `MEDIA_STORAGE=s3`.

One bucket, two audiences, told apart by the name's first folder:

- `stimuli/` is public: content-addressed names that never change, written with a one-year immutable
  Cache-Control and linked by plain URLs (the CDN's when `AWS_S3_CUSTOM_DOMAIN` is set), so
  participants load them straight from the store or the CDN. The bucket makes the prefix readable
  (a bucket policy, see README), or `AWS_STIMULI_ACL=public-read` sets an object ACL where the store
  still uses ACLs.
- everything else (photographs, raw maps, checkpoints) is private: its URL is presigned against the
  store itself, never the CDN, and expires after `AWS_QUERYSTRING_EXPIRE` seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from config.media import ONE_YEAR_S, PUBLIC_MEDIA_SUBDIR

PUBLIC_CACHE_CONTROL = f"public, max-age={ONE_YEAR_S}, immutable"
PRIVATE_CACHE_CONTROL = "private, max-age=3600"


def is_public(name: str) -> bool:
    return clean_name(name).lstrip("/").startswith(f"{PUBLIC_MEDIA_SUBDIR}/")


class MediaStorage(S3Storage):
    def get_object_parameters(self, name):
        params = super().get_object_parameters(name)
        if is_public(name):
            params.setdefault("CacheControl", PUBLIC_CACHE_CONTROL)
            acl = getattr(settings, "AWS_STIMULI_ACL", "")
            if acl:
                params.setdefault("ACL", acl)
        else:
            params.setdefault("CacheControl", PRIVATE_CACHE_CONTROL)
        return params

    def url(self, name, parameters=None, expire=None, http_method=None):
        key = self._normalize_name(clean_name(name))
        if is_public(name):
            if self.custom_domain:
                return f"{self.url_protocol}//{self.custom_domain}/{filepath_to_uri(key)}"
            return self.unsigned_connection.meta.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket.name, "Key": key}, ExpiresIn=0
            )
        params = dict(parameters or {}, Bucket=self.bucket.name, Key=key)
        return self.connection.meta.client.generate_presigned_url(
            "get_object",
            Params=params,
            ExpiresIn=self.querystring_expire if expire is None else expire,
            HttpMethod=http_method,
        )
