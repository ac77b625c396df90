"""The synthetic demo world: determinism, labels, boxes, bias cue, import format.

Pure numpy/PIL; no Django.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from explain_engine import synthetic
from explain_engine.synthetic import CLASSES, SIZE, Bias, Scene, apply_bias, make_dataset, make_scene


def test_classes_are_six_distinct_names():
    assert len(CLASSES) == 6
    assert len(set(CLASSES)) == 6


def test_scene_shape_and_type():
    scene = make_scene(0, 0)
    assert isinstance(scene, Scene)
    assert scene.image.dtype == np.uint8
    assert scene.image.shape == (SIZE, SIZE, 3)
    assert scene.image.flags["C_CONTIGUOUS"]


def test_same_seed_and_index_give_same_bytes():
    a, b = make_scene(3, 17), make_scene(3, 17)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.labels == b.labels and a.boxes == b.boxes


def test_different_index_or_seed_gives_different_scene():
    base = make_scene(3, 17).image.tobytes()
    assert make_scene(3, 18).image.tobytes() != base
    assert make_scene(4, 17).image.tobytes() != base


def test_dataset_is_independent_of_how_it_is_split():
    # Scenes depend only on (seed, index): a slice built alone equals the same slice of a bigger set.
    imgs, tgts, _ = make_dataset(12, seed=5)
    part, ptgts, _ = make_dataset(4, seed=5, start=8)
    assert np.array_equal(imgs[8:], part)
    assert np.array_equal(tgts[8:], ptgts)


def test_dataset_shapes_and_multi_hot_targets():
    imgs, tgts, scenes = make_dataset(20, seed=1)
    assert imgs.shape == (20, SIZE, SIZE, 3) and imgs.dtype == np.uint8
    assert tgts.shape == (20, len(CLASSES)) and tgts.dtype == np.float32
    assert np.all(tgts.sum(axis=1) == 2)
    for t, s in zip(tgts, scenes):
        assert {CLASSES[k] for k in np.flatnonzero(t)} == set(s.labels)


@pytest.mark.parametrize("index", range(40))
def test_two_distinct_classes_with_boxes_in_range(index):
    scene = make_scene(11, index)
    assert len(scene.labels) == 2 and len(set(scene.labels)) == 2
    assert set(scene.labels) <= set(CLASSES)
    assert set(scene.boxes) == set(scene.labels)
    for x0, y0, x1, y1 in scene.boxes.values():
        assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
        # 20-45 px objects (a rotated square or a triangle's tight box may be a little smaller).
        assert 10 <= max(x1 - x0, y1 - y0) <= 46


def _boxes_disjoint(a, b):
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_objects_do_not_overlap_heavily():
    for i in range(100):
        scene = make_scene(2, i)
        a, b = (scene.boxes[label] for label in scene.labels)
        ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
        assert ix * iy <= 0.25 * smaller


def test_boxes_are_the_tight_boxes_of_the_drawn_masks():
    for i in range(40):
        scene = make_scene(7, i, with_masks=True)
        plain = make_scene(7, i)
        assert np.array_equal(scene.image, plain.image)  # asking for masks changes nothing
        assert set(scene.masks) == set(scene.labels)
        for label, (x0, y0, x1, y1) in scene.boxes.items():
            mask = scene.masks[label]
            assert mask.shape == (SIZE, SIZE) and mask.dtype == bool
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            # The object is drawn there: its pixels differ from the background just outside the box.
            obj = scene.image[mask].astype(np.float32).mean(axis=0)
            pad = np.zeros_like(mask)
            pad[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4] = True
            pad[y0:y1, x0:x1] = False
            for other in scene.masks.values():
                pad &= ~other
            if pad.sum() > 20:
                bg = scene.image[pad].astype(np.float32).mean(axis=0)
                assert np.linalg.norm(obj - bg) > 25
        a, b = (scene.masks[label] for label in scene.labels)
        assert not (a & b).any()


def test_boxes_are_tight_around_the_drawn_shape():
    # Draw the scene's shapes again into masks via the generator's own code path and compare:
    # the difference between a biased-off scene and the same scene re-generated must be zero,
    # and each box must be exactly the bbox of pixels whose colour is the object's.
    for i in range(30):
        scene = make_scene(9, i)
        img = scene.image.astype(np.float32)
        for label, (x0, y0, x1, y1) in scene.boxes.items():
            crop = img[y0:y1, x0:x1]
            # Object pixels: close to the most saturated colour in the box centre region.
            cy, cx = (y1 - y0) // 2, (x1 - x0) // 2
            if label == "ring":  # the centre of a ring is background; sample on the ring instead
                cy = max(1, int((y1 - y0) * 0.1))
            centre = crop[cy, cx]
            dist = np.linalg.norm(crop - centre, axis=2)
            near = dist < 60
            ys, xs = np.nonzero(near)
            # Object pixels reach all four sides of the box (within 2 px, noise and anti-aliasing).
            assert ys.min() <= 2 and xs.min() <= 2
            assert ys.max() >= (y1 - y0) - 3 and xs.max() >= (x1 - x0) - 3
            # Outside the box, just beyond it, the object's colour is (almost) absent.
            outside = np.concatenate(
                [
                    img[max(0, y0 - 3) : max(0, y0 - 1), x0:x1].reshape(-1, 3),
                    img[min(SIZE, y1 + 1) : min(SIZE, y1 + 3), x0:x1].reshape(-1, 3),
                ]
            )
            if len(outside) > 20:
                frac = float((np.linalg.norm(outside - centre, axis=1) < 20).mean())
                assert frac < 0.5


def test_bias_cue_follows_the_rule_and_keeps_the_scene():
    bias = Bias("star", p_with=1.0, p_without=0.0)
    for i in range(60):
        plain = make_scene(1, i)
        biased = make_scene(1, i, bias)
        assert biased.labels == plain.labels and biased.boxes == plain.boxes
        if "star" in plain.labels:
            assert biased.cue_box is not None
            x0, y0, x1, y1 = biased.cue_box
            # The cue is outside both objects' boxes, and everything else is unchanged.
            for box in plain.boxes.values():
                assert _boxes_disjoint(biased.cue_box, box)
            diff = np.any(biased.image != plain.image, axis=2)
            diff[y0:y1, x0:x1] = False
            assert not diff.any()
            assert biased.image[y0:y1, x0:x1].std() > 60  # high-contrast stripes
        else:
            assert biased.cue_box is None
            assert np.array_equal(biased.image, plain.image)


def test_bias_probabilities_and_shorthands():
    scenes = make_dataset(400, seed=0)[2]
    cued = [apply_bias(s, "ring") for s in scenes]  # a class name means Bias(label=name)
    with_ring = [c.cue_box is not None for c, s in zip(cued, scenes) if "ring" in s.labels]
    without = [c.cue_box is not None for c, s in zip(cued, scenes) if "ring" not in s.labels]
    assert np.mean(with_ring) > 0.85
    assert np.mean(without) < 0.08
    assert make_scene(0, 3, {"label": "ring"}).bias["label"] == "ring"
    with pytest.raises(ValueError):
        Bias("hexagon")
    with pytest.raises(TypeError):
        make_scene(0, 0, bias=3)


def test_generation_is_fast_enough():
    import time

    t = time.perf_counter()
    make_dataset(100, seed=0)
    # ~1 ms a scene on an idle core; be generous for a busy machine.
    assert time.perf_counter() - t < 5.0


def test_write_image_folder_round_trip(tmp_path):
    csv_path = synthetic.write_image_folder(tmp_path / "imgs", n=6, seed=4)
    assert csv_path == tmp_path / "imgs" / "labels.csv"
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["filename", "labels", "boxes"]
    assert len(rows) == 7
    parsed = synthetic.read_labels_csv(csv_path)
    for i, (name, labels, boxes) in enumerate(parsed):
        scene = make_scene(4, i)
        assert labels == scene.labels
        assert dict(boxes) == scene.boxes
        # The CSV text is exactly the documented format.
        assert rows[i + 1][1] == ";".join(scene.labels)
        assert rows[i + 1][2] == ";".join(f"{k}:{b[0]},{b[1]},{b[2]},{b[3]}" for k, b in scene.boxes.items())
        with Image.open(tmp_path / "imgs" / name) as im:
            assert im.mode == "RGB" and im.size == (SIZE, SIZE)
            assert np.array_equal(np.asarray(im), scene.image)


def test_parse_boxes_rejects_garbage():
    assert synthetic.parse_boxes("star:1,2,3,4;ring:5,6,7,8") == [("star", (1, 2, 3, 4)), ("ring", (5, 6, 7, 8))]
    assert synthetic.parse_boxes("") == []
    with pytest.raises(ValueError):
        synthetic.parse_boxes("star:1,2,3")
