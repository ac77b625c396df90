"""Simulated participants: bots that play a study through the real HTTP pages.

A bot is an HTTP client with its own cookie jar. It reads each page the way a browser test does,
by the `data-testid` hooks, submits the same forms a participant submits, and never writes to the
database. Policies decide the answers:

- oracle: class discrimination, the option whose ground-truth box holds the largest share of the
  stimulus map's mass; trust, the model whose map puts more of its mass inside the true box.
- noisy: the oracle's answer with probability `accuracy`, otherwise a random one.
- random: a uniformly random answer (the chance baseline).

The oracle reads the ground truth (boxes) and the stimulus's raw map from the database: it plays
the role of a participant who sees perfectly, so the human-level numbers have a ceiling to compare
against. Run against a server (`base_url`), the bots are also the load generator: every request is
timed by page type.
"""

from __future__ import annotations

import http.cookiejar
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np
from django.core import signing

from ..kinds import kind_of

POLICIES = ("oracle", "noisy", "random")
SIMULATION_SALT = "studies.simulated-participant"
MAX_STEPS = 2000
MAX_RETRIES = 8


def simulation_token(study_slug: str) -> str:
    """A signed marker that tells the server a participant is simulated (so the data flag it)."""
    return signing.dumps({"study": study_slug}, salt=SIMULATION_SALT)


def is_valid_simulation_token(token: str, study_slug: str) -> bool:
    try:
        return signing.loads(token, salt=SIMULATION_SALT).get("study") == study_slug
    except signing.BadSignature:
        return False


# --- reading pages ---------------------------------------------------------------------------
@dataclass
class Element:
    tag: str
    attrs: dict
    text: str = ""


@dataclass
class Form:
    action: str
    method: str
    fields: dict = field(default_factory=dict)
    buttons: list = field(default_factory=list)


class PageParser(HTMLParser):
    """Collects forms (hidden fields and submit buttons) and every element with a data-testid."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.testids: dict[str, list[Element]] = defaultdict(list)
        self._open: list[Element] = []
        self._form: Form | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = Form(attrs.get("action") or "", (attrs.get("method") or "get").lower())
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attrs.get("name"):
            if attrs.get("type", "text") in ("hidden", "text"):
                self._form.fields[attrs["name"]] = attrs.get("value", "")
        element = Element(tag, attrs)
        if tag == "button" and self._form is not None:
            self._form.buttons.append(element)
        if "data-testid" in attrs:
            self.testids[attrs["data-testid"]].append(element)
        if tag not in ("input", "img", "br", "meta", "link", "hr"):
            self._open.append(element)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for element in self._open:
            element.text += data


@dataclass
class Page:
    url: str
    status: int
    body: str
    parser: PageParser

    def first(self, testid: str) -> Element | None:
        found = self.parser.testids.get(testid)
        return found[0] if found else None

    def all(self, testid: str) -> list[Element]:
        return self.parser.testids.get(testid, [])

    def form_with(self, testid: str) -> tuple[Form, Element] | None:
        for form in self.parser.forms:
            for button in form.buttons:
                if button.attrs.get("data-testid") == testid:
                    return form, button
        return None


# --- timing ----------------------------------------------------------------------------------
class Timings:
    """Latencies per page type, errors, and counts; shared by all bots of a run (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.started = time.monotonic()
        self.finished: float | None = None

    def record(self, kind: str, seconds: float, ok: bool, detail: str = ""):
        with self._lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{kind}: {detail}")

    def table(self) -> list[dict]:
        elapsed = (self.finished or time.monotonic()) - self.started
        rows = []
        for kind in sorted(self.latencies):
            values = np.array(self.latencies[kind]) * 1000
            rows.append(
                {
                    "page": kind,
                    "requests": int(values.size),
                    "rps": values.size / elapsed if elapsed else 0.0,
                    "p50_ms": float(np.percentile(values, 50)),
                    "p95_ms": float(np.percentile(values, 95)),
                    "p99_ms": float(np.percentile(values, 99)),
                    "errors": self.errors.get(kind, 0),
                }
            )
        return rows

    def format_table(self) -> str:
        return format_page_table(self.table())


def format_page_table(rows: list[dict]) -> str:
    """Rows of `Timings.table()` (or of a load tool's, in the same keys) as a text table."""
    lines = [f"{'page':<14}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"]
    for r in rows:
        lines.append(
            f"{r['page']:<14}{r['requests']:>9}{r['rps']:>8.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
            f"{r['p99_ms']:>9.1f}{r['errors']:>8}"
        )
    return "\n".join(lines)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class BotError(RuntimeError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


# --- answering -------------------------------------------------------------------------------
class Oracle:
    """Ground truth for the oracle policy: maps and boxes looked up by stimulus URL."""

    def __init__(self, study):
        from ..models import Prediction, TrialPanel

        self.study = study
        self.kind = kind_of(study)
        self.by_url: dict[str, object] = {}
        panels = TrialPanel.objects.filter(trial__study=study, stimulus__isnull=False).select_related(
            "stimulus__image", "stimulus__model"
        )
        for panel in panels:
            stimulus = panel.stimulus
            if stimulus.png:
                self.by_url[urllib.parse.urlparse(stimulus.png.url).path] = stimulus
        self.predictions = {
            (p.model_id, p.image_id): list(p.top_labels)
            # every image a panel shows (a kind's trial may show several images besides its own)
            for p in Prediction.objects.filter(image__stimuli__panels__trial__study=study).distinct()
        }
        self._maps: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def prediction(self, stimulus) -> list[str]:
        """The stored top labels of the stimulus's network on its image, best first."""
        return self.predictions.get((stimulus.model_id, stimulus.image_id), [])

    def stimulus(self, url: str):
        return self.by_url.get(urllib.parse.urlparse(url).path)

    def mass_map(self, stimulus) -> np.ndarray:
        with self._lock:
            if stimulus.pk not in self._maps:
                self._maps[stimulus.pk] = _load_mass_map(stimulus)
            return self._maps[stimulus.pk]

    def share_in_boxes(self, stimulus, label: str) -> float:
        mass = self.mass_map(stimulus)
        total = float(mass.sum())
        if total <= 0:
            return 0.0
        return float(mass[_inside(stimulus, label, mass.shape)].sum()) / total

    def lift_in_boxes(self, stimulus, label: str) -> float:
        """How many times denser the map's mass is inside the label's boxes than over the whole map
        (1: no denser than anywhere; 0: no mass or no box there). Unlike the share, a large region
        does not win by its size alone."""
        inside = _inside(stimulus, label, self.mass_map(stimulus).shape)
        area = float(inside.mean())
        return self.share_in_boxes(stimulus, label) / area if area > 0 else 0.0


class ParticipantOracle:
    """The study's oracle as one simulated participant consults it: the same ground truth, plus
    `memory`, a dict that lasts for that participant's whole session, for the kinds whose later
    answers depend on what earlier trials showed (a learning block, then a test block), and `rng`,
    the participant's seeded random stream (for a policy that guesses)."""

    def __init__(self, oracle: Oracle, memory: dict, rng: random.Random):
        self._oracle = oracle
        self.memory = memory
        self.rng = rng

    def __getattr__(self, name):
        return getattr(self._oracle, name)


def _inside(stimulus, label: str, shape) -> np.ndarray:
    """The map's pixels inside the label's ground-truth boxes."""
    from ..stimuli.geometry import boxes_on_map

    inside = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in boxes_on_map(stimulus, label, shape):
        inside[y0:y1, x0:x1] = True
    return inside


def _load_mass_map(stimulus) -> np.ndarray:
    """Non-negative map mass (H, W): the raw map if stored, else the PNG's deviation from grey."""
    if stimulus.raw_map:
        with stimulus.raw_map.open("rb") as fh:
            raw = np.load(fh)
        from explain_engine.metrics import map_mass

        return map_mass(raw)
    from PIL import Image

    with stimulus.png.open("rb") as fh:
        pixels = np.asarray(Image.open(fh).convert("L"), dtype=np.float64)
    return np.abs(pixels - np.median(pixels))


# --- one participant -------------------------------------------------------------------------
@dataclass
class BotResult:
    external_id: str
    completed: bool = False
    completion_code: str = ""
    redirected_to: str = ""
    answers: int = 0
    retries: int = 0
    error: str = ""


class Bot:
    def __init__(
        self,
        base_url: str,
        slug: str,
        external_id: str,
        *,
        policy: str,
        rng: random.Random,
        timings: Timings,
        oracle: Oracle | None = None,
        accuracy: float = 0.7,
        pause: tuple[float, float] = (0.0, 0.0),
        sim_token: str = "",
        fetch_images: bool = True,
        timeout: float = 30.0,
        screener_answers: dict | None = None,
    ):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.base = base_url.rstrip("/")
        self.slug = slug
        self.external_id = external_id
        self.policy = policy
        self.rng = rng
        self.timings = timings
        self.oracle = oracle
        self.accuracy = accuracy
        self.pause = pause
        self.sim_token = sim_token
        self.fetch_images = fetch_images
        self.timeout = timeout
        self.screener_answers = dict(screener_answers or {})  # the form fields of the eligibility questions
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())
        self.result = BotResult(external_id)
        self.retries = 0
        self.memory: dict = {}  # what this participant remembers from page to page (ParticipantOracle)

    # HTTP ------------------------------------------------------------------------------------
    def request(self, kind: str, url: str, data: dict | None = None):
        """One request; like the page's script, a network or server error is retried with the same
        data (for an answer: the same idempotency key), so nothing is lost and nothing doubled."""
        for attempt in range(MAX_RETRIES + 1):
            try:
                return self._request_once(kind, url, data)
            except BotError as err:
                if (err.status is not None and err.status < 500) or attempt == MAX_RETRIES:
                    raise
                self.retries += 1
                time.sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    def _request_once(self, kind: str, url: str, data: dict | None = None):
        url = urllib.parse.urljoin(self.base + "/", url)
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        started = time.perf_counter()
        try:
            status, content, location = self.send(kind, url, body)
        except OSError as err:
            self.timings.record(kind, time.perf_counter() - started, False, f"{url}: {err}")
            raise BotError(f"{kind} {url}: {err}") from err
        ok = status < 400
        self.timings.record(kind, time.perf_counter() - started, ok, f"{url}: HTTP {status}")
        if not ok:
            raise BotError(f"{kind} {url}: HTTP {status}: {content[:200]!r}", status)
        return status, content, location, url

    def send(self, kind: str, url: str, body: bytes | None) -> tuple[int, bytes, str | None]:
        """The HTTP exchange itself (status, body, Location), never following a redirect; OSError when
        no answer came. A load tool's client replaces it (bench/locustfile.py)."""
        req = urllib.request.Request(url, data=body, headers={"User-Agent": "visexp-bot"})
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                return resp.status, resp.read(), resp.headers.get("Location")
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Location")
        except urllib.error.URLError as err:
            raise OSError(str(err.reason)) from err

    def get_page(self, kind: str, url: str) -> Page:
        for _ in range(10):
            status, content, location, full = self.request(kind, url)
            if status in (301, 302, 303, 307, 308) and location:
                if not self._same_site(location):
                    raise _Finished(location)
                url, kind = location, self._kind_of(location)
                continue
            parser = PageParser()
            text = content.decode("utf-8", "replace")
            parser.feed(text)
            return Page(full, status, text, parser)
        raise BotError(f"too many redirects from {url}")

    def submit(self, page_type: str, page: Page, form: Form, extra: dict) -> Page:
        data = {**form.fields, **extra}
        url = urllib.parse.urljoin(page.url, form.action)
        status, content, location, full = self.request(page_type, url, data)
        if page_type == "answer":
            self.result.answers += 1  # acknowledged by the server
        if status in (301, 302, 303) and location:
            if not self._same_site(location):
                raise _Finished(location)
            return self.get_page(self._kind_of(location), urllib.parse.urljoin(full, location))
        parser = PageParser()
        text = content.decode("utf-8", "replace")
        parser.feed(text)
        return Page(full, status, text, parser)

    def _same_site(self, location: str) -> bool:
        target = urllib.parse.urlparse(urllib.parse.urljoin(self.base + "/", location))
        return target.netloc == urllib.parse.urlparse(self.base).netloc

    @staticmethod
    def _kind_of(url: str) -> str:
        path = urllib.parse.urlparse(url).path.rstrip("/")
        last = path.rsplit("/", 1)[-1]
        return {"instructions": "instructions", "trial": "trial", "questionnaire": "questionnaire", "done": "done"}.get(
            last, "start"
        )

    # playing -------------------------------------------------------------------------------
    def play(self) -> BotResult:
        try:
            self._play()
        except _Finished as finished:
            self.result.completed = True
            self.result.redirected_to = finished.location
        except BotError as err:
            self.result.error = str(err)
        self.result.retries = self.retries
        return self.result

    def _play(self):
        query = urllib.parse.urlencode(
            {
                "PROLIFIC_PID": self.external_id,
                "STUDY_ID": f"sim-{self.slug}",
                "SESSION_ID": uuid.uuid4().hex,
                **({"SIMULATED": self.sim_token} if self.sim_token else {}),
            }
        )
        page = self.get_page("start", f"/s/{self.slug}/?{query}")
        for _ in range(MAX_STEPS):
            if page.first("completion-code") is not None or self._kind_of(page.url) == "done":
                code = page.first("completion-code")
                self.result.completed = True
                self.result.completion_code = code.text.strip() if code else ""
                return
            if (accept := page.form_with("consent-accept")) is not None:
                form, button = accept
                self.think()
                page = self.submit("consent", page, form, {button.attrs["name"]: button.attrs["value"]})
            elif (screen := page.form_with("screener-submit")) is not None:
                form, button = screen
                self.think()
                extra = {button.attrs["name"]: button.attrs["value"], **self.screener_answers}
                page = self.submit("screeners", page, form, extra)
            elif (cont := page.first("continue")) is not None and cont.tag == "a":
                self.think()
                page = self.get_page(
                    self._kind_of(cont.attrs["href"]), urllib.parse.urljoin(page.url, cont.attrs["href"])
                )
            elif page.all("question"):
                page = self.answer(page)
            elif (finish := page.form_with("submit")) is not None:
                form, _ = finish
                self.think()
                page = self.submit("questionnaire", page, form, {"comment": ""})
            else:
                raise BotError(f"no known control on {page.url} (HTTP {page.status})")
        raise BotError("the study did not end")

    def think(self) -> None:
        """Paced bots take their time on every page before they act, as a reader does."""
        if self.pause[1] > 0:
            time.sleep(self.rng.uniform(*self.pause))

    def answer(self, page: Page) -> Page:
        """Answer every question of a trial page by the page contract (README, "Trial pages")."""
        images = [el.attrs.get("src", "") for el in page.all("stimulus")]
        if self.fetch_images:
            for src in images:
                if src:
                    self.request("stimulus", src)
        started = time.perf_counter()
        names = [q.attrs.get("data-name", "") for q in page.all("question")]
        options = page.all("option")
        questions = {n: [o.attrs["data-value"] for o in options if o.attrs.get("data-question") == n] for n in names}
        instruction = page.first("instruction")
        regions = {el.attrs.get("data-name", ""): el.attrs.get("data-box", "") for el in page.all("region")}
        chosen = self.choose(images, questions, instruction.text if instruction else "", regions)
        self.think()
        rt_ms = int((time.perf_counter() - started) * 1000) if self.pause[1] > 0 else self.rng.randint(700, 2500)
        form = next(f for f in page.parser.forms if "idempotency_key" in f.fields)
        return self.submit("answer", page, form, {**chosen, "rt_ms": rt_ms})

    def _random_or_oracle(self) -> bool:
        if self.policy == "random" or self.oracle is None:
            return False
        return self.policy == "oracle" or self.rng.random() < self.accuracy

    def choose(
        self, images: list[str], questions: dict[str, list[str]], instruction: str, regions: dict | None = None
    ) -> dict:
        """The policy's answer: the oracle's (instructed items always, unless random), or random."""
        answer = None
        if self.oracle is not None and ((instruction and self.policy != "random") or self._random_or_oracle()):
            stimuli = [self.oracle.stimulus(src) for src in images]
            oracle = ParticipantOracle(self.oracle, self.memory, self.rng)
            answer = self.oracle.kind.oracle_answer_on_page(oracle, stimuli, questions, instruction, regions or {})
        if not answer:
            answer = {name: self.rng.choice(values) for name, values in questions.items() if values}
        return answer


class _Finished(Exception):
    """The study sent the participant away (the completion redirect)."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


# --- a run -----------------------------------------------------------------------------------
@dataclass
class RunReport:
    results: list[BotResult]
    timings: Timings

    @property
    def completed(self) -> int:
        return sum(r.completed for r in self.results)

    @property
    def failed(self) -> list[BotResult]:
        return [r for r in self.results if not r.completed]


def eligible_screener_answers(study) -> dict[str, str]:
    """Simulated participants are eligible: each screener's first eligible option, as the form sends it."""
    return {f"screener_{item['name']}": item["eligible"][0] for item in study.screeners or []}


def do_simulate(
    study,
    *,
    base_url: str,
    n: int,
    policy: str = "oracle",
    concurrency: int = 8,
    seed: int = 0,
    accuracy: float = 0.7,
    pause: tuple[float, float] = (0.0, 0.0),
    fetch_images: bool = True,
    id_prefix: str = "",
    progress=None,
) -> RunReport:
    """Play `n` participants through the pages at `base_url`, `concurrency` at a time."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    oracle = Oracle(study) if policy in ("oracle", "noisy") else None
    token = simulation_token(study.slug)
    timings = Timings()
    prefix = id_prefix or f"bot-{policy}-{seed}-{uuid.uuid4().hex[:6]}"
    bots = [
        Bot(
            base_url,
            study.slug,
            f"{prefix}-{i:05d}",
            policy=policy,
            rng=random.Random(f"{seed}:{i}"),
            timings=timings,
            oracle=oracle,
            accuracy=accuracy,
            pause=pause,
            sim_token=token,
            fetch_images=fetch_images,
            screener_answers=eligible_screener_answers(study),
        )
        for i in range(n)
    ]
    results: list[BotResult] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(bot.play) for bot in bots]
        for future in as_completed(futures):
            results.append(future.result())
            if progress:
                progress(len(results), n)
    timings.finished = time.monotonic()
    return RunReport(results, timings)
