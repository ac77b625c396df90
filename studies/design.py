"""Trial banks, condition assignment and per-participant plans, as pure seeded functions.

Nothing here touches the database: the same inputs always give the same outputs, so a study's
bank and every participant's plan can be rebuilt from the configuration and the recorded seeds.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

# Method name of attention-check stimuli for class discrimination: the photograph cut down to the
# target's ground-truth box, so that the answer is unmistakable.
ATTENTION_CROP = "photo_crop"
NO_ENGINE = "-"  # engine version recorded for stimuli made without the engine (those crops)
# The method name of a study's no-explanation control arm: its panels are the plain photograph, as
# the network sees it, with whatever the kind's page adds (e.g. the prediction) but no map.
NO_EXPLANATION = "none"
ATTENTION_POOL_FACTOR = 4
MAIN, ATTENTION = "main", "attention"  # a bank entry's trial kind (TrialKind's values)


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

    @property
    def is_main(self) -> bool:
        return self.kind == MAIN

    @property
    def is_attention_check(self) -> bool:
        return self.kind == ATTENTION


@dataclass(frozen=True)
class PlannedTrial:
    position: int
    bank_index: int
    is_attention_check: bool
    option_order: tuple[str, ...]
    presentation: Mapping = field(default_factory=dict)


def study_arms(methods: Sequence[str], control_arm: bool) -> list[str]:
    """The arms a study compares: its methods, and the no-explanation control arm last when it has one."""
    return list(methods or []) + ([NO_EXPLANATION] if control_arm else [])


def derive_seed(*parts) -> int:
    """A 63-bit seed from any parts (study seed, participant id, ...), stable across Python versions."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def choose_images(images: Sequence[ImageInfo], max_images: int | None, seed: int) -> list:
    """The images of a bank: all, or `max_images` of them drawn by the seed; ordered by id."""
    ordered = sorted(images, key=lambda im: im.id)
    if max_images is not None and len(ordered) > max_images:
        ordered = sorted(random.Random(derive_seed(seed, "images")).sample(ordered, max_images), key=lambda im: im.id)
    return ordered


def attention_pool(pairs: Sequence, attention_checks: int, seed: int) -> list:
    """The bank's attention checks: up to ATTENTION_POOL_FACTOR per participant's checks, drawn by the seed."""
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
    present: Callable[[BankEntry, random.Random], tuple[tuple[str, ...], Mapping]],
    design: str,
    methods: Sequence[str],
    trials_per_participant: int,
    attention_checks: int,
    participant_seed: int,
    condition: str | None = None,
    latin_row: int | None = None,
) -> list[PlannedTrial]:
    """One participant's trials in order, each with its presentation: `present(entry, rng)` is the
    study's kind's (option order, and e.g. left/right placement), drawn from the participant's rng.

    Every participant sees each image at most once in main trials.

    Between subjects: trials of `condition` only, in random order.

    Within subjects: the methods follow the participant's row of the Williams square, block after
    block (so each method appears equally often, within one when the trials do not divide evenly,
    and across the square's rows each method follows every other equally often within a block).
    Images are drawn at random; an image goes, where possible, with the method that the square's
    row gives its column, so that across rows every image is shown with every method equally often.
    """
    rng = random.Random(participant_seed)
    main = [e for e in bank if e.is_main]
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

    checks = [e for e in bank if e.is_attention_check]
    checks = rng.sample(checks, min(attention_checks, len(checks)))
    sequence: list[BankEntry] = list(chosen)
    for check in checks:
        # Never first: the first trial is where participants are still finding their way.
        sequence.insert(rng.randint(1, max(1, len(sequence))), check)

    plan = []
    for position, entry in enumerate(sequence):
        options, presentation = present(entry, rng)
        plan.append(PlannedTrial(position, entry.index, entry.is_attention_check, tuple(options), dict(presentation)))
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
