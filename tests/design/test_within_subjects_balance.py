"""Within-subjects plans: each method equally often per participant, each image at most once, the
Williams square's order (first-order carry-over balanced across its rows). Property tests over the
numbers of methods, trials and images."""

from collections import Counter
from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from studies import design
from studies.kinds import class_discrimination, kind_of

METHODS = ["gradcam", "guided_backprop", "guided_gradcam", "deconvnet", "deconvnet_gradcam"]
LABELS = [("cat", "dog"), ("car", "boat"), ("bird", "chair")]


def bank_of(n_images: int, methods, attention_checks: int = 0):
    images = [design.ImageInfo(100 + i, LABELS[i % len(LABELS)]) for i in range(n_images)]
    categories = sorted({c for pair in LABELS for c in pair})
    return class_discrimination.build_bank(images, categories, methods, seed=3, attention_checks=attention_checks)


def main_trials(bank, methods, trials, row, seed, attention_checks=0):
    plan = design.participant_plan(
        bank,
        present=kind_of("class_discrimination").present,
        design="within",
        methods=methods,
        trials_per_participant=trials,
        attention_checks=attention_checks,
        participant_seed=seed,
        latin_row=row,
    )
    by_index = {e.index: e for e in bank}
    return [by_index[p.bank_index] for p in plan if not p.is_attention_check]


@settings(max_examples=150, deadline=None)
@given(
    n_methods=st.integers(1, 5),
    n_images=st.integers(1, 24),
    trials=st.integers(1, 30),
    row=st.integers(0, 9),
    seed=st.integers(0, 2**32),
    checks=st.integers(0, 2),
)
def test_every_participant_sees_each_method_equally_often_and_each_image_once(
    n_methods, n_images, trials, row, seed, checks
):
    methods = METHODS[:n_methods]
    bank = bank_of(n_images, methods, attention_checks=checks)
    main = main_trials(bank, methods, trials, row, seed, attention_checks=checks)
    assert len(main) == min(trials, n_images)
    images = [e.image_id for e in main]
    assert len(images) == len(set(images))
    counts = Counter(e.method for e in main)
    shown = [counts.get(m, 0) for m in methods]
    assert max(shown) - min(shown) <= 1, counts
    # the order of the participant's row of the square, block after block
    square = design.williams_square(n_methods)
    order = square[row % len(square)]
    assert [e.method for e in main] == [methods[order[p % n_methods]] for p in range(len(main))]


@settings(max_examples=60, deadline=None)
@given(
    n_methods=st.integers(2, 5), blocks=st.integers(1, 3), extra_images=st.integers(0, 6), seed=st.integers(0, 2**32)
)
def test_across_the_squares_rows_each_method_follows_every_other_equally_often(n_methods, blocks, extra_images, seed):
    methods = METHODS[:n_methods]
    trials = blocks * n_methods
    bank = bank_of(trials + extra_images, methods)
    square = design.williams_square(n_methods)
    pairs = Counter()
    for row in range(len(square)):
        sequence = [e.method for e in main_trials(bank, methods, trials, row, seed + row)]
        for start in range(0, trials, n_methods):
            block = sequence[start : start + n_methods]
            pairs.update(zip(block, block[1:], strict=False))
    assert set(pairs) == set(permutations(methods, 2))
    assert len(set(pairs.values())) == 1, pairs


@settings(max_examples=40, deadline=None)
@given(n_methods=st.integers(2, 4), blocks=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_across_the_squares_rows_every_image_is_shown_with_every_method(n_methods, blocks, seed):
    methods = METHODS[:n_methods]
    n_images = blocks * n_methods  # every participant sees every image
    bank = bank_of(n_images, methods)
    square = design.williams_square(n_methods)
    seen = Counter()
    for row in range(len(square)):
        seen.update((e.image_id, e.method) for e in main_trials(bank, methods, n_images, row, seed + row))
    assert set(seen.values()) == {len(square) // n_methods}
    assert len(seen) == n_images * n_methods


def test_three_methods_and_twelve_trials_give_four_of_each():
    methods = METHODS[:3]
    bank = bank_of(40, methods)
    for row in range(6):
        for seed in range(20):
            counts = Counter(e.method for e in main_trials(bank, methods, 12, row, seed))
            assert counts == {m: 4 for m in methods}
