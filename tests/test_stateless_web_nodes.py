"""Web nodes keep no state of their own: a participant whom a load balancer sends to one of two gunicorn
nodes, then the other, in turn, never loses an answer and never sees a wrong step."""

import random
import re
import urllib.parse

import pytest
from django.conf import settings

from studies.models import Participant, Response
from studies.participants.bots import Bot, Timings, simulation_token
from tests.support import factories
from tests.support.webnode import WebNode


def test_sessions_and_the_cache_live_in_the_database_and_redis_never_in_a_process():
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    for cache in settings.CACHES.values():
        assert "locmem" not in cache["BACKEND"] and "filebased" not in cache["BACKEND"]


class AlternatingBot(Bot):
    """Sends each request to the next node in turn, and notes which trial every trial page shows."""

    def __init__(self, nodes, *args, **kwargs):
        super().__init__(nodes[0], *args, **kwargs)
        self.nodes = [urllib.parse.urlsplit(n).netloc for n in nodes]
        self.sent = [0] * len(nodes)
        self.trial_numbers = []

    def _request_once(self, kind, url, data=None):
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(self.base + "/", url))
        if parts.netloc in self.nodes:
            turn = sum(self.sent) % len(self.nodes)
            self.sent[turn] += 1
            url = urllib.parse.urlunsplit(parts._replace(netloc=self.nodes[turn]))
        return super()._request_once(kind, url, data)

    def _same_site(self, location):
        return urllib.parse.urlsplit(urllib.parse.urljoin(self.base + "/", location)).netloc in self.nodes

    def answer(self, page):
        progress = page.first("progress")
        self.trial_numbers.append(int(re.search(r"Trial (\d+) of", progress.text).group(1)))
        return super().answer(page)


@pytest.mark.django_db(transaction=True)
def test_a_participant_alternating_between_two_nodes_keeps_every_answer_in_order(tmp_path):
    study = factories.make_class_discrimination_study(trials_per_participant=6, attention_checks=1)
    nodes = [WebNode(tmp_path / f"web-{i}.log") for i in (1, 2)]
    played = []
    try:
        for node in nodes:
            node.start()
        for i in range(3):
            bot = AlternatingBot(
                [n.url for n in (nodes if i % 2 == 0 else nodes[::-1])],
                study.slug,
                f"alternating-{i}",
                policy="random",
                rng=random.Random(i),
                timings=Timings(),
                sim_token=simulation_token(study.slug),
                fetch_images=False,
            )
            result = bot.play()
            participant = Participant.objects.filter(study=study).exclude(pk__in=[p.pk for _, _, p in played]).get()
            played.append((bot, result, participant))
    finally:
        for node in nodes:
            node.stop()
    for bot, result, participant in played:
        assert result.completed, result.error
        total = participant.trial_count
        assert total == 7 and bot.trial_numbers == list(range(1, total + 1))  # every step once, in order
        assert min(bot.sent) >= total  # both nodes served this participant throughout
        assert Response.objects.filter(assignment__participant=participant).count() == total == result.answers
