"""The HIVE banks as pure functions: distinction mixes wrong top-1 predictions at the configured
share with the correct class among the four panels; agreement balances right and wrong 50/50."""

from types import SimpleNamespace

import pytest

from studies.kinds import KindContext, kind_of

CLASSES = ["cat", "dog", "car", "bird", "boat", "chair", "cup"]


def world(n_right: int, n_wrong: int):
    images, predictions = [], {}
    for i in range(n_right + n_wrong):
        truth = CLASSES[i % len(CLASSES)]
        others = [c for c in CLASSES if c != truth]
        top = [truth, *others[:4]] if i < n_right else [others[0], others[1], truth, *others[2:4]]
        image = SimpleNamespace(id=100 + i, labels=[truth])
        images.append(image)
        predictions[(1, image.id)] = top
    return KindContext(images, {im.id: set(im.labels) for im in images}, predictions)


def study(kind, **settings):
    return SimpleNamespace(
        kind=kind,
        model=SimpleNamespace(id=1),
        methods=["gradcam", "guided_gradcam"],
        arms=["gradcam", "guided_gradcam"],
        seed=3,
        max_images=None,
        attention_checks_per_participant=1,
        kind_settings=settings,
    )


@pytest.mark.parametrize("share", [0.25, 0.5, 0.75])
def test_distinction_mixes_wrong_predictions_at_the_configured_share(share):
    s = study("hive_distinction", incorrect_share=share)
    bank = kind_of(s).build_bank(s, world(30, 30))
    main = [e for e in bank if e.kind == "main"]
    per_image = {e.image_id: e for e in main}
    wrong = sum(not e.payload["prediction_correct"] for e in per_image.values())
    assert abs(wrong / len(per_image) - share) <= 1 / len(per_image)
    for e in main:
        assert len(e.options) == 4 and e.target_class == e.options[0]  # the top 4, best first
        assert e.payload["true_class"] in e.options
    assert {e.method for e in main} == {"gradcam", "guided_gradcam"}
    assert len(main) == 2 * len(per_image)


def test_distinction_banks_are_seeded():
    s = study("hive_distinction", incorrect_share=0.5)
    assert kind_of(s).build_bank(s, world(20, 9)) == kind_of(s).build_bank(s, world(20, 9))
    other = study("hive_distinction", incorrect_share=0.5)
    other.seed = 4
    assert kind_of(s).build_bank(s, world(20, 9)) != kind_of(other).build_bank(other, world(20, 9))


def test_agreement_balances_right_and_wrong_predictions():
    s = study("hive_agreement")
    bank = kind_of(s).build_bank(s, world(25, 9))
    per_image = {e.image_id: e.payload["prediction_correct"] for e in bank if e.kind == "main"}
    assert sum(per_image.values()) == 9 and len(per_image) == 18


def test_the_participants_panel_order_is_drawn_from_their_seed():
    import random

    s = study("hive_distinction")
    entry = next(e for e in kind_of(s).build_bank(s, world(4, 4)) if e.kind == "main")
    orders = {kind_of(s).present(entry, random.Random(seed))[1]["panel_order"].__repr__() for seed in range(40)}
    assert len(orders) > 10
    options, presentation = kind_of(s).present(entry, random.Random(1))
    assert [entry.options[i] for i in presentation["panel_order"]] == list(options)
