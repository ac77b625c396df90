"""`textual` as a study method: generation writes the sentence of each decision as the stimulus, and the
participant reads it in place of the map."""

import re

from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from studies import lifecycle
from studies.models import Stimulus, Study
from studies.stimuli import configuration, generation


def test_a_study_of_textual_explanations_shows_participants_the_sentence_in_place_of_the_map(
    demo_networks, demo_scenes, django_capture_on_commit_callbacks
):
    _, weak = demo_networks
    study = Study.objects.create(
        name="Words instead of maps",
        slug="words",
        kind="class_discrimination",
        methods=["textual", "gradcam"],
        design="between",
        model=weak,
        image_set=demo_scenes,
        trials_per_participant=2,
        max_images=2,
        seed=3,
        attention_checks_per_participant=0,
    )
    assert configuration.study_config_errors(study) == []
    with django_capture_on_commit_callbacks(execute=True):
        job = generation.do_start_generation(study)
    job.refresh_from_db()
    assert job.status == "done", list(job.failures.values("reason"))
    texts = Stimulus.objects.filter(method="textual")
    assert texts.count() == 4  # two images, each with its two categories
    for stimulus in texts:
        sentence = stimulus.provenance["textual"]["text"]
        assert sentence.startswith(f"The network's decision for {stimulus.target_class} relies most on units")
        assert stimulus.render_style == "text" and stimulus.png.open("rb").read(4) == b"\x89PNG"

    lifecycle.do_launch(study)
    seen = set()
    for _ in range(2):  # conditions are balanced: the second participant gets the other method
        participant_client = Client()
        participant_client.post(reverse("studies:participant-start", args=[study.slug]), {"action": "accept"})
        html = participant_client.get(reverse("studies:participant-trial", args=[study.slug])).content.decode()
        participant = study.participants.order_by("-pk").first()
        stimulus = participant.assignments.order_by("position").first().trial.panels.get().stimulus
        seen.add(participant.condition)
        if participant.condition == "textual":
            shown = re.search(r'<p data-testid="stimulus" class="textual-explanation">(.*?)</p>', html).group(1)
            assert shown == escape(stimulus.provenance["textual"]["text"])
            assert '<img data-testid="stimulus"' not in html
        else:
            assert f'<img data-testid="stimulus" src="{stimulus.png.url}"' in html
    assert seen == {"textual", "gradcam"}
