"""Generation gives each expensive method (one that runs forward passes of its own) chunks of its own."""

from types import SimpleNamespace

from studies.stimuli.content_keys import Unit
from studies.stimuli.generation import make_chunks


def unit(image_id, method, model_id=1):
    return Unit(f"{model_id}-{image_id}-{method}", image_id, model_id, method, "cat", 0, "overlay", "1", "1")


def test_expensive_methods_get_chunks_of_their_own():
    missing = [unit(i, m) for i in (1, 2, 3) for m in ("gradcam", "guided_backprop", "scorecam", "smoothgrad")]
    chunks = make_chunks(SimpleNamespace(pk=7, study_id=3), missing, chunk_images=2)
    methods_per_chunk = [sorted({m for item in c["items"] for m, _ in item["units"]}) for c in chunks]
    assert methods_per_chunk == [
        ["gradcam", "guided_backprop"],
        ["gradcam", "guided_backprop"],
        ["scorecam"],
        ["scorecam"],
        ["smoothgrad"],
        ["smoothgrad"],
    ]
    assert sum(len(item["units"]) for c in chunks for item in c["items"]) == len(missing)
    assert all(c["model_id"] == 1 and c["job_id"] == 7 for c in chunks)
