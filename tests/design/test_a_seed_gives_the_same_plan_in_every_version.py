"""A participant's plan is a pure function of the bank and the recorded seed: the draws must never
change, or a study could not be rebuilt from its records. The plans below were recorded once; any
change to how participant_plan draws (even a faster way to the same choices) must keep them."""

from studies import design

METHODS = ["gradcam", "guided_backprop"]
SEED = 20261201


def bank():
    entries = []
    for image_id in range(12):
        for method in METHODS:
            entries.append(design.BankEntry(len(entries), "main", image_id, method, "cat", ("cat", "dog")))
    for image_id in range(4):
        entries.append(design.BankEntry(len(entries), "attention", image_id, "photo_crop", "cat", ("cat", "dog")))
    return entries


def shuffled_options(entry, rng):
    options = list(entry.options)
    rng.shuffle(options)
    return tuple(options), {}


def plan(**kwargs):
    planned = design.participant_plan(
        bank(),
        present=shuffled_options,
        methods=METHODS,
        trials_per_participant=6,
        attention_checks=1,
        participant_seed=SEED,
        **kwargs,
    )
    return [(p.bank_index, p.option_order) for p in planned]


CD, DC = ("cat", "dog"), ("dog", "cat")


def test_between_subjects_plans_are_the_recorded_ones():
    assert plan(design="between", condition="gradcam") == [
        (22, CD),
        (2, CD),
        (16, CD),
        (4, DC),
        (6, CD),
        (26, CD),
        (20, DC),
    ]
    assert plan(design="between", condition="guided_backprop") == [
        (23, CD),
        (3, CD),
        (17, CD),
        (5, DC),
        (7, CD),
        (26, CD),
        (21, DC),
    ]


def test_a_within_subjects_plan_is_the_recorded_one():
    assert plan(design="within", latin_row=1) == [(5, CD), (6, CD), (1, DC), (22, CD), (17, CD), (24, DC), (18, CD)]
