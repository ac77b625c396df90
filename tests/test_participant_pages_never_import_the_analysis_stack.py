"""A web process that serves participants never imports torch, pandas, scipy, statsmodels or
matplotlib: not at start (the WSGI application and the URL configuration) and not on any page of the
participant flow. Each of them costs a web process memory and start-up time, and torch alone made
every gunicorn worker 690 MB. Staff pages and the JSON API still load them, on their first request."""

import json
import os
import subprocess
import sys

import pytest

from studies.participants.bots import simulation_token
from tests.support import factories
from tests.support.worker import ROOT, database_url_for_tests

HEAVY = ("torch", "torchvision", "pandas", "scipy", "statsmodels", "matplotlib")

# Runs in a fresh interpreter, as a gunicorn worker does: the WSGI application first, then one
# participant's whole flow through it (Django's test client drives the same handler and middleware).
SCRIPT = r"""
import json, re, sys

HEAVY = {heavy!r}
loaded = lambda: sorted(m for m in HEAVY if m in sys.modules)

from config.wsgi import application  # noqa: F401  (django.setup(), as gunicorn loads it)
import config.urls  # noqa: F401
from django.test import Client

seen = {{"start": loaded()}}
client = Client()
slug = {slug!r}
page = client.get(f"/s/{{slug}}/", {{"PROLIFIC_PID": "no-heavy-imports", "SESSION_ID": "s1", "SIMULATED": {sim!r}}})
assert page.status_code == 200, page.status_code
html = page.content.decode()
form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
form[re.search(r'name="(\w+)" value="accept"', html).group(1)] = "accept"
consent = client.post(f"/s/{{slug}}/", form)
assert consent.status_code == 302, consent.status_code
pages = [client.get(consent["Location"])]
for _ in range({trials}):
    trial = client.get(f"/s/{{slug}}/trial/")
    html = trial.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    choice = re.search(r'name="choice" value="([^"]+)"', html).group(1)
    answer = client.post(f"/s/{{slug}}/answer/", {{**fields, "choice": choice, "rt_ms": "900"}})
    pages += [trial, answer]
pages += [client.get(f"/s/{{slug}}/questionnaire/")]
seen["statuses"] = sorted({{p.status_code for p in pages}})
seen["participant flow"] = loaded()
# The control: the API's first request loads its own stack, so the check above can see an import.
seen["API status"] = client.get("/api/studies").status_code  # no token: refused, not missing
seen["after an API request"] = loaded()
print(json.dumps(seen))
"""


@pytest.mark.django_db(transaction=True)
def test_a_participant_flow_loads_no_torch_pandas_scipy_statsmodels_or_matplotlib():
    study = factories.make_class_discrimination_study(trials_per_participant=2, attention_checks=0)
    script = SCRIPT.format(heavy=HEAVY, slug=study.slug, sim=simulation_token(study.slug), trials=2)
    env_overrides = {"DATABASE_URL": database_url_for_tests(), "CONN_MAX_AGE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **env_overrides},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["start"] == [], seen
    assert seen["statuses"] == [200, 303], seen  # every page served, every answer taken
    assert seen["participant flow"] == [], seen
    assert seen["API status"] == 401 and "pandas" in seen["after an API request"], seen
