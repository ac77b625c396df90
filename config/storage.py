"""Media in S3-compatible object storage (django-storages), selected by `MEDIA_STORAGE=s3`.

One bucket, two audiences, told apart by the name's first folder:

- `stimuli/` is public: content-addressed names that never change, written with a one-year immutable
  Cache-Control and linked by plain URLs (the CDN's when `AWS_S3_CUSTOM_DOMAIN` is set), so
  participants load them straight from the store or the CDN. The bucket makes the prefix readable
  (a bucket policy, see README), or `AWS_STIMULI_ACL=public-read` sets an object ACL where the store
  still uses ACLs.
- everything else (photographs, raw maps, checkpoints) is private: its URL is presigned against the
  store itself, never the CDN, and expires after `AWS_QUERYSTRING_EXPIRE` seconds.

URLs for browsers use AWS_S3_PUBLIC_ENDPOINT_URL when set (a store that the servers reach by an
internal name); files are read and written through AWS_S3_ENDPOINT_URL.
"""

from __future__ import annotations

from botocore import UNSIGNED
from botocore.config import Config
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

    def _save(self, name, content):
        # A stimulus or a raw map is a few kB: one PUT. boto3's managed upload (threads, futures)
        # took twice as long per file in bench/generation.py; large files still go through it.
        size = getattr(content, "size", None)
        threshold = self.transfer_config.multipart_threshold if self.transfer_config else 8 * 1024 * 1024
        if self.gzip or size is None or size > threshold:
            return super()._save(name, content)
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        content.seek(0)
        body = content.read()
        if isinstance(body, str):
            body = body.encode()
        self.connection.meta.client.put_object(Bucket=self.bucket_name, Key=key, Body=body, **params)
        return cleaned

    def _url_client(self, signed: bool):
        """The client that writes URLs for browsers: AWS_S3_PUBLIC_ENDPOINT_URL where the endpoint
        the servers use (http://s3:8333 inside docker compose) is not the one browsers reach."""
        public = getattr(settings, "AWS_S3_PUBLIC_ENDPOINT_URL", None)
        if not public or public == self.endpoint_url:
            return (self.connection if signed else self.unsigned_connection).meta.client
        config = self.client_config if signed else self.client_config.merge(Config(signature_version=UNSIGNED))
        # Signing needs no network: a client per call costs microseconds against the URL's lifetime.
        return self._create_session().client(
            "s3", region_name=self.region_name, endpoint_url=public, config=config, verify=self.verify
        )

    def url(self, name, parameters=None, expire=None, http_method=None):
        key = self._normalize_name(clean_name(name))
        if is_public(name):
            if self.custom_domain:
                return f"{self.url_protocol}//{self.custom_domain}/{filepath_to_uri(key)}"
            return self._url_client(signed=False).generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket_name, "Key": key}, ExpiresIn=0
            )
        params = dict(parameters or {}, Bucket=self.bucket_name, Key=key)
        return self._url_client(signed=True).generate_presigned_url(
            "get_object",
            Params=params,
            ExpiresIn=self.querystring_expire if expire is None else expire,
            HttpMethod=http_method,
        )


def public_read_policy(bucket: str) -> dict:
    """Anyone may read `stimuli/`, nothing else: the bucket policy that makes stimuli public."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicStimuli",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{PUBLIC_MEDIA_SUBDIR}/*"],
            }
        ],
    }


def ensure_bucket(storage: MediaStorage, policy: bool = True) -> list[str]:
    """Create the media bucket if it is missing and give it the public-stimuli policy. Returns what it did."""
    import json

    from botocore.exceptions import ClientError

    client = storage.connection.meta.client
    bucket = storage.bucket_name
    done = []
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        extra = {}
        if storage.region_name and storage.region_name != "us-east-1" and not storage.endpoint_url:
            extra["CreateBucketConfiguration"] = {"LocationConstraint": storage.region_name}
        client.create_bucket(Bucket=bucket, **extra)
        done.append(f"created bucket {bucket}")
    if policy:
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read_policy(bucket)))
        done.append(f"{bucket}/{PUBLIC_MEDIA_SUBDIR}/* is public-read, everything else private")
    return done
