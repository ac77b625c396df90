"""Trial banks, condition assignment and per-participant plans, as pure seeded functions.

Nothing here touches the database: the same inputs always give the same outputs, so a study's
bank and every participant's plan can be rebuilt from the configuration and the recorded seeds.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Method name of attention-check stimuli for class discrimination: the photograph cut down to the
# target's ground-truth box, so that the answer is unmistakable.
ATTENTION_CROP = "photo_crop"
NO_ENGINE = "-"  # engine version recorded for stimuli made without the engine (those crops)
ATTENTION_POOL_FACTOR = 4


@dataclass(frozen=True)
class ImageInfo:
    id: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class BankEntry:
    index: int
    kind: str  # main | attention
    image_id: int
    method: str
    target_class: str
    options: tuple[str, ...]
    payload: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedTrial:
    position: int
    bank_index: int
    is_attention_check: bool
    swapped: bool
    option_order: tuple[str, ...]


def derive_seed(*parts) -> int:
    """A 63-bit seed from any parts (study seed, participant id, ...), stable across Python versions."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def qualifies_for_class_discrimination(labels: Iterable[str], categories: Iterable[str]) -> bool:
    """The paper's rule: exactly two annotated categories, both known to the model."""
    distinct = set(labels)
    return len(distinct) == 2 and distinct <= set(categories)


def _choose_images(images: Sequence[ImageInfo], max_images: int | None, seed: int) -> list[ImageInfo]:
    ordered = sorted(images, key=lambda im: im.id)
    if max_images is not None and len(ordered) > max_images:
        ordered = sorted(random.Random(derive_seed(seed, "images")).sample(ordered, max_images), key=lambda im: im.id)
    return ordered


def build_class_discrimination_bank(
    images: Sequence[ImageInfo],
    categories: Sequence[str],
    methods: Sequence[str],
    seed: int,
    max_images: int | None = None,
    attention_checks: int = 0,
) -> list[BankEntry]:
    """Every (image, category, method) of the qualifying images, then a pool of attention checks.

    Each main entry shows `method`'s map for `target_class`; the options are the image's two classes.
    """
    eligible = [im for im in images if qualifies_for_class_discrimination(im.labels, categories)]
    chosen = _choose_images(eligible, max_images, seed)
    bank: list[BankEntry] = []
    for image in chosen:
        options = tuple(sorted(set(image.labels)))
        for target in options:
            for method in methods:
                bank.append(BankEntry(len(bank), "main", image.id, method, target, options))
    pairs = [(image, target) for image in chosen for target in sorted(set(image.labels))]
    for image, target in _attention_pool(pairs, attention_checks, seed):
        bank.append(
            BankEntry(len(bank), "attention", image.id, ATTENTION_CROP, target, tuple(sorted(set(image.labels))))
        )
    return bank


# Instructed-response items for trust studies: the participant is told which answer to give.
TRUST_INSTRUCTED_RATINGS = (2, -2, 0)
TRUST_RATING_LABELS = {
    2: "Model 1 is clearly more reliable",
    1: "Model 1 is slightly more reliable",
    0: "Both are equally reliable",
    -1: "Model 2 is slightly more reliable",
    -2: "Model 2 is clearly more reliable",
}


def build_trust_bank(
    pairs: Sequence[tuple[int, str]],
    methods: Sequence[str],
    seed: int,
    max_images: int | None = None,
    attention_checks: int = 0,
) -> list[BankEntry]:
    """Every (image, class, method) for the images whose class both networks predict.

    `pairs` are (image id, ground-truth class that both networks predict), one per image.
    """
    by_id = {image_id: target for image_id, target in pairs}
    chosen = _choose_images([ImageInfo(i, (t,)) for i, t in by_id.items()], max_images, seed)
    bank: list[BankEntry] = []
    for image in chosen:
        for method in methods:
            bank.append(BankEntry(len(bank), "main", image.id, method, image.labels[0], ()))
    pool = _attention_pool([(im, im.labels[0]) for im in chosen], attention_checks, seed)
    for n, (image, target) in enumerate(pool):
        expected = TRUST_INSTRUCTED_RATINGS[n % len(TRUST_INSTRUCTED_RATINGS)]
        payload = {
            "expected_rating": expected,
            "instruction": f"To show that you are reading carefully, please answer \u201c{TRUST_RATING_LABELS[expected]}\u201d.",
        }
        bank.append(BankEntry(len(bank), "attention", image.id, methods[0], target, (), payload))
    return bank


def _attention_pool(pairs: Sequence, attention_checks: int, seed: int) -> list:
    if attention_checks <= 0 or not pairs:
        return []
    size = min(len(pairs), attention_checks * ATTENTION_POOL_FACTOR)
    return random.Random(derive_seed(seed, "attention")).sample(list(pairs), size)


def williams_square(n: int) -> list[list[int]]:
    """A balanced Latin square: each method in each position once, and each ordered pair adjacent once.

    For odd n the square and its mirror together are balanced (2n rows).
    """
    if n <= 0:
        return []
    first = [0]
    low, high = 1, n - 1
    for k in range(1, n):
        if k % 2:
            first.append(low)
            low += 1
        else:
            first.append(high)
            high -= 1
    rows = [[(v + r) % n for v in first] for r in range(n)]
    if n % 2:
        rows += [list(reversed(row)) for row in rows]
    return rows


def latin_condition(methods: Sequence[str], row: int) -> str:
    """The label of a within-subjects participant's condition: the row and its order of methods."""
    square = williams_square(len(methods))
    order = square[row % len(square)] if square else []
    return f"row {row}: " + " > ".join(methods[i] for i in order)


def participant_plan(
    bank: Sequence[BankEntry],
    *,
    kind: str,
    design: str,
    methods: Sequence[str],
    trials_per_participant: int,
    attention_checks: int,
    participant_seed: int,
    condition: str | None = None,
    latin_row: int | None = None,
) -> list[PlannedTrial]:
    """One participant's trials in order, with option order and left/right placement.

    Every participant sees each image at most once in main trials.

    Between subjects: trials of `condition` only, in random order.

    Within subjects: the methods follow the participant's row of the Williams square, block after
    block (so each method appears equally often, within one when the trials do not divide evenly,
    and across the square's rows each method follows every other equally often within a block).
    Images are drawn at random; an image goes, where possible, with the method that the square's
    row gives its column, so that across rows every image is shown with every method equally often.
    """
    rng = random.Random(participant_seed)
    main = [e for e in bank if e.kind == "main"]
    if design == "within":
        chosen = _within_sequence(main, methods, trials_per_participant, latin_row or 0, rng)
    else:
        if condition not in methods:
            raise ValueError(f"condition {condition!r} is not one of the study's methods")
        image_order = sorted({e.image_id for e in main})
        picked_images = rng.sample(image_order, min(trials_per_participant, len(image_order)))
        chosen = []
        for image_id in picked_images:
            candidates = [e for e in main if e.image_id == image_id and e.method == condition]
            chosen.append(rng.choice(candidates))
        rng.shuffle(chosen)

    checks = [e for e in bank if e.kind == "attention"]
    checks = rng.sample(checks, min(attention_checks, len(checks)))
    sequence: list[BankEntry] = list(chosen)
    for check in checks:
        # Never first: the first trial is where participants are still finding their way.
        sequence.insert(rng.randint(1, max(1, len(sequence))), check)

    plan = []
    for position, entry in enumerate(sequence):
        options = list(entry.options)
        rng.shuffle(options)
        swapped = rng.random() < 0.5 if kind == "trust" else False
        plan.append(PlannedTrial(position, entry.index, entry.kind == "attention", swapped, tuple(options)))
    return plan


def _within_sequence(
    main: Sequence[BankEntry], methods: Sequence[str], trials: int, latin_row: int, rng: random.Random
) -> list[BankEntry]:
    square = williams_square(len(methods))
    row = square[latin_row % len(square)]
    entries: dict[tuple[int, str], list[BankEntry]] = {}
    for e in main:
        entries.setdefault((e.image_id, e.method), []).append(e)
    image_order = sorted({e.image_id for e in main})
    n_trials = min(trials, len(image_order))
    wanted = [methods[row[p % len(methods)]] for p in range(n_trials)]

    # The images whose column of the square gives them each method in this row, in random order.
    preferred: dict[str, list[int]] = {m: [] for m in methods}
    for column, image_id in enumerate(image_order):
        preferred[methods[row[column % len(methods)]]].append(image_id)
    for pool in preferred.values():
        rng.shuffle(pool)
    used: set[int] = set()
    images: list[int | None] = []
    for method in wanted:
        pool = preferred[method]
        while pool and (pool[-1] in used or (pool[-1], method) not in entries):
            pool.pop()
        images.append(pool.pop() if pool else None)
        used.add(images[-1])
    # Positions whose method ran out of its own images take any unused image that has the method.
    spare = [i for i in image_order if i not in used]
    rng.shuffle(spare)
    chosen = []
    for method, image_id in zip(wanted, images, strict=True):
        if image_id is None:
            image_id = next((i for i in spare if (i, method) in entries), None)
            if image_id is None:
                continue
            spare.remove(image_id)
        chosen.append(rng.choice(entries[(image_id, method)]))
    return chosen


def rating_toward_stronger(rating: int, swapped: bool) -> int:
    """Convert a displayed rating (+2 = Model 1 clearly more reliable) to a score toward the stronger network."""
    return -rating if swapped else rating
