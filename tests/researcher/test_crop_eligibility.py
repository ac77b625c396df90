"""Photos are center-cropped: an image whose labelled object is mostly outside the crop does not
qualify for a study that needs that object, and the study form says how many were left out."""

import pytest
from django.urls import reverse

from studies.stimuli import bank as trial_bank
from studies.stimuli import configuration
from tests.support.researcher_world import CROPPED_OUT, IN_VIEW

pytestmark = pytest.mark.django_db


def filenames(images):
    return sorted(im.filename for im in images)


def test_images_whose_objects_the_crop_cuts_off_do_not_qualify(researcher_world):
    study = researcher_world.class_discrimination_study()
    found = configuration.study_eligibility(study)
    assert filenames(found.images) == IN_VIEW
    assert found.cropped_out == len(CROPPED_OUT)
    bank = trial_bank.build_bank(study)
    assert {e.image_id for e in bank} == {im.id for im in found.images}


def test_the_share_of_the_box_that_must_be_visible_is_configurable(researcher_world):
    study = researcher_world.class_discrimination_study(min_visible_box_fraction=0.4)
    # photo_06's cat is 46% inside the crop
    assert filenames(configuration.study_eligibility(study).images) == sorted([*IN_VIEW, "photo_06.jpg"])


def test_pad_to_square_shows_every_object(researcher_world):
    padded = researcher_world.padded_resnet()
    study = researcher_world.class_discrimination_study(model=padded)
    found = configuration.study_eligibility(study)
    assert filenames(found.images) == sorted(IN_VIEW + CROPPED_OUT) and found.cropped_out == 0


def test_a_trust_study_keeps_images_whose_class_both_networks_show(researcher_world):
    study = researcher_world.trust_study()
    found = configuration.study_eligibility(study)
    # every photo has a label both networks know, but the panorama photo_02 shows neither object
    assert "photo_02.jpg" not in filenames(found.images) and found.cropped_out == 1
    assert found.visible[next(im.id for im in found.images if im.filename == "photo_06.jpg")] == {"dog"}


def test_the_study_form_shows_how_many_images_the_crop_leaves_out(researcher_world, researcher_client):
    study = researcher_world.class_discrimination_study()
    page = researcher_client.get(reverse("admin:studies_study_change", args=[study.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert f"{len(IN_VIEW)} images have exactly two labels" in text
    assert f"{len(CROPPED_OUT)} more images are left out because photos are center-cropped" in text
