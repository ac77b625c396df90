"""A real Celery worker as a subprocess, against the test database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_tests() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """Start, kill and restart one worker that consumes the `gpu` and `celery` queues (or `queues`).

    `queues=None` leaves the choice to CELERY_WORKER_QUEUES. `env` overrides the worker's environment: its own MEDIA_ROOT, the object store's settings, ...
    """

    def __init__(
        self,
        log_path: Path,
        concurrency: int = 1,
        broker_url: str | None = None,
        queues: str | None = "gpu,celery",
        env: dict | None = None,
    ):
        self.log_path = log_path
        self.concurrency = concurrency
        self.broker_url = broker_url
        self.queues = queues
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        env = dict(os.environ)
        env["DATABASE_URL"] = database_url_for_tests()
        env["CELERY_BROKER_URL"] = self.broker_url or settings.CELERY_BROKER_URL
        env["CELERY_RESULT_BACKEND"] = self.broker_url or settings.CELERY_RESULT_BACKEND or settings.CELERY_BROKER_URL
        env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
        env["CONN_MAX_AGE"] = "0"
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (several workers then boot side by side)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                *(["-Q", self.queues] if self.queues else []),
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool children), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_path.open("ab").write(b"\n--- worker stopped ---\n")
