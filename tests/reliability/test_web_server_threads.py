"""The site is served by threaded gunicorn workers in docker-compose, the image and the load test
alike, so that one slow request does not hold up the cheap ones behind it."""

import re
from pathlib import Path

from bench.loadtest import gunicorn_command

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_and_the_image_serve_with_gthread_workers():
    compose = (ROOT / "docker-compose.yml").read_text()
    web = compose[compose.index("  web:") : compose.index("  worker:")]
    assert re.search(r"--worker-class gthread\s+--threads \$\$\{WEB_THREADS:-\d+\}", web)
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    assert '"--worker-class", "gthread"' in cmd and '"--threads"' in cmd


def test_the_load_test_serves_as_docker_compose_does():
    cmd = gunicorn_command(8011, 3, 4)
    assert cmd[cmd.index("--worker-class") + 1] == "gthread" and cmd[cmd.index("--threads") + 1] == "4"
