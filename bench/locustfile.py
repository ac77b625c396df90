"""Locust users that are simulated participants: each plays the study once through the real pages.

Run by `make loadtest` (bench/loadtest.py, the paced phase), or on its own against a running site:

    LOADTEST_SLUG=demo-trust LOADTEST_SIM_TOKEN=... locust -f bench/locustfile.py --headless \\
        -u 1000 -r 50 --host http://127.0.0.1:8011

A user is one `Bot` (studies/participants/bots.py) whose HTTP goes through Locust's client, so the
pages are read by the same `data-testid` hooks, answered by the same policies, paced by the same
pauses and retried with the same idempotency keys as the bots of `simulate_participants`; Locust
times every request by page type (start, consent, instructions, trial, stimulus, answer, ...). A
user stops after its study ends; the run quits when every user has.

Environment: LOADTEST_SLUG, LOADTEST_SIM_TOKEN (flags the participants as simulated),
LOADTEST_PAUSE ("1,3": seconds before each action), LOADTEST_PREFIX (participant ids),
LOADTEST_SEED, LOADTEST_RESULTS (a JSON file: each participant's completion, acknowledged answers,
retries and error, and the latencies by page type), plus the site's settings (Django is set up for the bots' page reading).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, events, task
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django  # noqa: E402

django.setup()

from studies.participants.bots import Bot, Timings  # noqa: E402

SLUG = os.environ.get("LOADTEST_SLUG", "demo-trust")
SIM_TOKEN = os.environ.get("LOADTEST_SIM_TOKEN", "")
PAUSE = tuple(float(v) for v in os.environ.get("LOADTEST_PAUSE", "1,3").split(","))
PREFIX = os.environ.get("LOADTEST_PREFIX", "locust")
SEED = int(os.environ.get("LOADTEST_SEED", "0"))
RESULTS = os.environ.get("LOADTEST_RESULTS", "")

_numbers = itertools.count()
_results: list[dict] = []
# Every request of every user, by page type, as the bots time them (Locust's own statistics are
# kept as well, and its CSV is written on an interval, so its last second may be missing there).
_timings = Timings()


class LocustBot(Bot):
    """A bot whose requests are Locust's: timed and counted by Locust, named by page type."""

    def __init__(self, client, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client

    def send(self, kind: str, url: str, body: bytes | None):
        headers = {"User-Agent": "visexp-locust"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.client.request(
            "POST" if body is not None else "GET", url, name=kind, data=body, headers=headers, allow_redirects=False
        )
        if not response.status_code:
            raise OSError(str(response.error))
        return response.status_code, response.content or b"", response.headers.get("Location")


class Participant(FastHttpUser):
    # Each user acts only after its bot's pause (LOADTEST_PAUSE), inside the bot.
    wait_time = staticmethod(lambda: 0)

    @task
    def take_part(self):
        number = next(_numbers)
        name = f"{PREFIX}-{number:05d}"
        bot = LocustBot(
            self.client,
            self.host,
            SLUG,
            name,
            policy="random",
            rng=random.Random(f"{SEED}-{name}"),
            timings=_timings,
            pause=PAUSE,
            sim_token=SIM_TOKEN,
        )
        result = bot.play()
        _results.append(
            {
                "participant": name,
                "completed": result.completed,
                "answers": result.answers,
                "retries": result.retries,
                "error": result.error,
            }
        )
        raise StopUser()


def _quit_when_everyone_finished(environment):
    """Headless Locust keeps running while no user is left: quit once every spawned user finished."""
    expected = environment.parsed_options.num_users if environment.parsed_options else None
    while expected is None or len(_results) < expected:
        gevent.sleep(0.5)
    environment.runner.quit()


@events.test_start.add_listener
def _watch(environment, **_):
    _timings.started = time.monotonic()
    gevent.spawn(_quit_when_everyone_finished, environment)


@events.quitting.add_listener
def _write_results(environment, **_):
    _timings.finished = time.monotonic()
    if RESULTS:
        Path(RESULTS).write_text(json.dumps({"participants": _results, "pages": _timings.table()}))
