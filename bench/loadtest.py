"""`make loadtest`: the site as in production under a crowd of simulated participants.

Starts gunicorn with the settings of docker-compose (DEBUG off, Postgres, Redis, whitenoise serving
static files and stimuli) on 127.0.0.1, builds the demo studies in a fresh database, then plays:

1. wave: a recruitment platform releases the study: W people open the link and consent, their
   arrivals spread evenly over 10 s, while one participant already in the study keeps loading
   trial pages. Targets: consent p99 < 300 ms, that participant's trial page p99 < 100 ms, and
   the arms within one participant of even. With several sizes (--wave-sizes 500,750,1000) it
   plays each and reports the largest wave that met every target;
2. burst: N participants at once answering with no pause;
3. paced: N participants arriving 50 a second, each pausing 1-3 s on every page before it acts
   (consent, instructions, every answer), as a reader does, for each N of --paced (default
   200,500,1000); target: trial page and answer p99 < 100 ms and no error. It reports the largest
   N held;
4. fault: participants paced while PostgreSQL is restarted in the middle of the run.

Phases 2-4 are driven by Locust (bench/locustfile.py: each Locust user is one of the bots of
studies/participants/bots.py with Locust's HTTP client); the wave by a thread per arrival, on a
fixed schedule, beside one participant reading trial pages. After each phase it checks that the database holds exactly one response per acknowledged answer
(none lost, none doubled) and prints the requests per second, p50/p95/p99 latency and errors per
page type. Everything runs on this machine's loopback; every loop is bounded.

gunicorn runs as docker-compose runs it: gthread workers, so that a slow request (a consent)
never holds up the cheap ones (a trial page) behind it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "loadtest"
# Several checkouts may load-test on one machine: each names its own database and Redis number.
DB_NAME = os.environ.get("LOADTEST_DB", "visexp_load")
REDIS_DB = int(os.environ.get("LOADTEST_REDIS_DB", 9))
WAVE_SECONDS = 10.0
WAVE_CONSENT_P99_MS = 300.0
WAVE_TRIAL_P99_MS = 100.0
PACED_P99_MS = 100.0  # trial pages and answers, for paced participants


def production_env(port: int) -> dict:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain http on loopback: the Secure cookie flag would keep the bots' cookies from coming back.
        "SECURE_COOKIES": "0",
        "MEDIA_ROOT": str(OUT / "media"),
        "STATIC_ROOT": str(OUT / "static"),
        "DEMO_MODELS_DIR": str(ROOT / "var" / "demo_models"),
        "LOG_LEVEL": "WARNING",
        "TORCH_DEVICE": "cpu",
    }


def gunicorn_command(port: int, workers: int, threads: int) -> list[str]:
    """The web command of docker-compose.yml: threads, so that a slow request (a consent) never
    holds up the cheap ones (a trial page) queued behind it in the same process."""
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
        # Participants pause 1-3 s between requests: with gunicorn's default of 2 s the server closed
        # many idle connections just as a participant's next request went out on them.
        "--keep-alive",
        "5",
        # The workers' heartbeat files in memory: on a container's overlay disk, touching them
        # every loop can stall a worker (gunicorn's FAQ).
        "--worker-tmp-dir",
        "/dev/shm",
    ]


def _proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _postgres_backends(database: str) -> list[int]:
    """PostgreSQL's processes serving connections to `database` (its title names the database)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes().decode(errors="replace") if entry.name.isdigit() else ""
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            found.append(int(entry.name))
    return found


def cpu_snapshot(web_pid: int) -> dict:
    """CPU seconds used so far by the web server, PostgreSQL's connections to the load test's
    database, this process (the bots) and the whole machine (other work included)."""
    busy = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    usage = os.times()
    return {
        "web": sum(_proc_cpu_s(pid) for pid in [web_pid, *_children(web_pid)]),
        "postgres": sum(_proc_cpu_s(pid) for pid in _postgres_backends(DB_NAME)),
        # The bots in this process, and Locust's runs once they ended (children that were waited for).
        "load generator": usage.user + usage.system + usage.children_user + usage.children_system,
        "machine": (sum(busy) - busy[3] - busy[4]) / os.sysconf("SC_CLK_TCK"),  # all but idle and iowait
    }


def cpu_used(before: dict, after: dict) -> dict:
    return {k: round(after[k] - before[k], 1) for k in before}


def web_rss_mb(web_pid: int) -> list[int]:
    """Resident memory of each web worker process, in MB."""
    sizes = []
    for pid in _children(web_pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        sizes.append(round(kb / 1024))
    return sizes


def run(cmd, env, **kwargs):
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, **kwargs)


def recreate_database():
    for sql in (f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True)


def wait_healthy(url: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the site at {url} did not become healthy in {timeout:.0f} s")


def restart_postgres(after_s: float, log: list):
    time.sleep(after_s)
    cluster = sorted(os.listdir("/etc/postgresql"))[0]
    started = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"], check=True)
    log.append(time.monotonic() - started)


def locust_phase(
    name: str,
    study,
    base_url: str,
    n: int,
    pause,
    env: dict,
    *,
    spawn_rate: float,
    web_pid: int | None = None,
    fault_after: float | None = None,
) -> dict:
    """`n` participants played by Locust (bench/locustfile.py), `spawn_rate` new ones a second, each
    through the whole study with the bots' random policy and pauses (PostgreSQL restarted
    `fault_after` seconds in, if given); then the database must hold exactly one response per answer
    the server acknowledged."""
    from django.db import connection

    from studies.models import Response
    from studies.participants.bots import format_page_table, simulation_token

    print(
        f"\n== {name}: {n} participants (Locust, {spawn_rate:.0f} arrive a second) on {study.slug}, "
        f"pause {pause[0]}-{pause[1]} s",
        flush=True,
    )
    before = Response.objects.filter(assignment__participant__study=study).count()
    connection.close()
    prefix = OUT / f"locust-{name.replace(' ', '-')}"
    results_file = Path(f"{prefix}-participants.json")
    results_file.unlink(missing_ok=True)
    locust_env = {
        **env,
        "LOADTEST_SLUG": study.slug,
        "LOADTEST_SIM_TOKEN": simulation_token(study.slug),
        "LOADTEST_PAUSE": f"{pause[0]},{pause[1]}",
        "LOADTEST_PREFIX": f"load-{name}-{secrets.token_hex(3)}",
        "LOADTEST_SEED": str(zlib.crc32(name.encode()) % 1000),
        "LOADTEST_RESULTS": str(results_file),
    }
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "-u",
        str(n),
        "-r",
        str(spawn_rate),
        "--host",
        base_url,
        "--run-time",
        f"{min(600, max(300, n))}s",  # a bound: a participant still playing then counts as not completed
    ]
    fault_log: list = []
    fault = None
    if fault_after is not None:
        fault = threading.Thread(target=restart_postgres, args=(fault_after, fault_log))
        fault.start()
    cpu_before = cpu_snapshot(web_pid) if web_pid else None
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=locust_env, check=False, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    cpu = cpu_used(cpu_before, cpu_snapshot(web_pid)) if web_pid else {}
    if fault:
        fault.join()
    after = Response.objects.filter(assignment__participant__study=study).count()
    recorded = json.loads(results_file.read_text()) if results_file.exists() else {}
    people, pages = recorded.get("participants", []), recorded.get("pages", [])
    acknowledged = sum(p["answers"] for p in people)
    result = {
        "phase": name,
        "driver": "locust",
        "participants": n,
        "completed": sum(p["completed"] for p in people),
        "seconds": round(elapsed, 1),
        "answers_acknowledged": acknowledged,
        "responses_written": after - before,
        "lost": max(0, acknowledged - (after - before)),
        "doubled": max(0, (after - before) - acknowledged),
        "retries": sum(p["retries"] for p in people),
        "errors": sum(page["errors"] for page in pages),
        "pages": pages,
        "failures": [p["error"] for p in people if not p["completed"]][:5],
        "postgres_restart_s": round(fault_log[0], 1) if fault_log else None,
        "cpu_s": cpu,
    }
    p99 = {page["page"]: page["p99_ms"] for page in pages}
    result["held"] = bool(
        result["completed"] == n
        and result["errors"] == 0
        and not result["lost"]
        and not result["doubled"]
        and max(p99.get("trial", float("inf")), p99.get("answer", float("inf"))) < PACED_P99_MS
    )
    print(format_page_table(pages))
    print(
        f"completed {result['completed']}/{n} in {result['seconds']} s; answers acknowledged {acknowledged}, "
        f"responses written {after - before} (lost {result['lost']}, doubled {result['doubled']}); "
        f"errors {result['errors']}, retried {result['retries']}; trial p99 {p99.get('trial', float('nan')):.0f} ms, "
        f"answer p99 {p99.get('answer', float('nan')):.0f} ms (target < {PACED_P99_MS:.0f}): "
        + ("held" if result["held"] else "NOT held")
        + (f"; Postgres restart took {result['postgres_restart_s']} s" if fault_log else ""),
        flush=True,
    )
    if cpu:
        print(
            f"CPU seconds in those {elapsed:.1f} s ({os.cpu_count()} cores: {os.cpu_count() * elapsed:.1f} s at most): "
            + ", ".join(f"{k} {v}" for k, v in cpu.items()),
            flush=True,
        )
    return result


def wave(study, base_url: str, size: int, seconds: float = WAVE_SECONDS, web_pid: int | None = None) -> dict:
    """`size` consents released evenly over `seconds`, while a participant already in the study
    reads trial pages; per-request latencies come from the bots' own timing (studies/participants/bots.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from django.db.models import Count

    from studies.models import Participant
    from studies.participants.bots import Bot, BotError, Timings, simulation_token
    from studies.participants.flow import holding_filter

    print(f"\n== wave: {size} consents released within {seconds:.0f} s on {study.slug}", flush=True)
    tag = f"wave{size}-{secrets.token_hex(3)}"
    simulated = simulation_token(study.slug)  # flags the wave's participants as simulated
    reader_timings, timings = Timings(), Timings()

    def start_url(external_id: str, session: str) -> str:
        query = urllib.parse.urlencode({"PROLIFIC_PID": external_id, "SESSION_ID": session, "SIMULATED": simulated})
        return f"/s/{study.slug}/?{query}"

    def bot(name: str, own: Timings) -> Bot:
        return Bot(base_url, study.slug, name, policy="random", rng=random.Random(name), timings=own)

    reader = bot(f"{tag}-reader", Timings())
    page = reader.get_page("start", start_url(reader.external_id, tag))
    form, button = page.form_with("consent-accept")
    reader.submit("consent", page, form, {button.attrs["name"]: button.attrs["value"]})
    reader.timings = reader_timings  # from here on: only the trial pages it reads during the wave
    done = threading.Event()

    def read_trials():
        while not done.is_set():
            try:
                reader.get_page("trial", f"/s/{study.slug}/trial/")
            except BotError:
                pass  # counted as an error by the timings
            time.sleep(0.05)

    def consent(i: int, release_at: float) -> bool:
        time.sleep(max(0.0, release_at - time.monotonic()))
        person = bot(f"{tag}-{i:05d}", timings)
        try:
            page = person.get_page("start", start_url(person.external_id, str(i)))
            form, button = page.form_with("consent-accept")
            person.submit("consent", page, form, {button.attrs["name"]: button.attrs["value"]})
        except BotError:
            return False
        return True

    reading = threading.Thread(target=read_trials)
    reading.start()
    time.sleep(0.5)  # the reader's steady state before the wave
    cpu_before = cpu_snapshot(web_pid) if web_pid else None
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(size, 200)) as pool:
        consented = sum(pool.map(lambda i: consent(i, started + seconds * i / size), range(size)))
    elapsed = time.monotonic() - started
    cpu = cpu_used(cpu_before, cpu_snapshot(web_pid)) if web_pid else {}
    done.set()
    reading.join()
    timings.finished = reader_timings.finished = time.monotonic()

    connection.close()
    holding = Participant.objects.filter(study=study, is_pilot=False).filter(holding_filter(study))
    arms = dict(holding.values_list("condition").annotate(n=Count("id")).values_list("condition", "n"))
    consent_row = next((row for row in timings.table() if row["page"] == "consent"), None)
    trial_row = next((row for row in reader_timings.table() if row["page"] == "trial"), None)
    consent_p99 = consent_row["p99_ms"] if consent_row else float("inf")
    trial_p99 = trial_row["p99_ms"] if trial_row else float("inf")
    balanced = bool(arms) and max(arms.values()) - min(arms.values()) <= 1
    result = {
        "phase": f"wave {size}",
        "participants": size,
        "completed": consented,
        "seconds": round(elapsed, 1),
        "consents_per_s": round(consented / elapsed, 1) if elapsed else 0.0,
        "consent_p99_ms": round(consent_p99, 1),
        "reader_trial_p99_ms": round(trial_p99, 1),
        "arms": arms,
        "balanced": balanced,
        "errors": sum(row["errors"] for row in timings.table() + reader_timings.table()),
        "pages": timings.table(),
        "reader_pages": reader_timings.table(),
        "lost": 0,
        "doubled": 0,
        "cpu_s": cpu,
        "web_rss_mb": web_rss_mb(web_pid) if web_pid else [],
    }
    result["held"] = bool(
        consented == size
        and elapsed <= seconds + 1.0
        and consent_p99 < WAVE_CONSENT_P99_MS
        and trial_p99 < WAVE_TRIAL_P99_MS
        and balanced
        and result["errors"] == 0
    )
    print(timings.format_table())
    print("the participant already in the study, meanwhile:")
    print(reader_timings.format_table())
    print(
        f"{consented}/{size} consented in {result['seconds']} s ({result['consents_per_s']}/s); consent p99 "
        f"{result['consent_p99_ms']} ms (target < {WAVE_CONSENT_P99_MS:.0f}), reader's trial page p99 "
        f"{result['reader_trial_p99_ms']} ms (target < {WAVE_TRIAL_P99_MS:.0f}); arms {arms} "
        f"({'balanced' if balanced else 'NOT balanced'}); {'held' if result['held'] else 'NOT held'}",
        flush=True,
    )
    if cpu:
        print(
            f"CPU seconds in those {elapsed:.1f} s ({os.cpu_count()} cores: {os.cpu_count() * elapsed:.1f} s at most): "
            + ", ".join(f"{k} {v}" for k, v in cpu.items())
            + f"; web workers' memory {result['web_rss_mb']} MB",
            flush=True,
        )
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200, help="participants of the burst")
    parser.add_argument(
        "--paced",
        default="200,500,1000",
        help="comma-separated numbers of paced participants, played in order with Locust; 0 skips",
    )
    parser.add_argument("--spawn-rate", type=float, default=50.0, help="paced participants arriving a second")
    parser.add_argument("--fault-participants", type=int, default=50)
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 3)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", 4)))
    parser.add_argument(
        "--wave-sizes", default="500", help="comma-separated wave sizes, played in order; 0 skips the wave"
    )
    parser.add_argument("--only-wave", action="store_true", help="play the wave phase and nothing else")
    parser.add_argument("--skip-fault", action="store_true")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "media", ignore_errors=True)
    env = {**os.environ, **production_env(args.port)}
    recreate_database()
    manage = [sys.executable, "manage.py"]
    run(manage + ["migrate", "--noinput", "-v0"], env)
    run(manage + ["collectstatic", "--noinput", "-v0"], env)
    # The studies are built with in-process generation (no worker needed for a load test).
    run(
        manage + ["demo", "--no-serve"],
        {k: v for k, v in env.items() if k != "CELERY_BROKER_URL"},
        stdout=subprocess.DEVNULL,
    )

    base_url = f"http://127.0.0.1:{args.port}"
    # The web command of docker-compose.yml.
    gunicorn = subprocess.Popen(
        gunicorn_command(args.port, args.workers, args.threads),
        cwd=ROOT,
        env=env,
        stdout=open(OUT / "gunicorn.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    os.environ.update(production_env(args.port) | {"SECRET_KEY": env["SECRET_KEY"]})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from studies.demo import CD_SLUG, TRUST_SLUG
    from studies.models import Study

    results = []
    try:
        wait_healthy(base_url)
        cd, trust = Study.objects.get(slug=CD_SLUG), Study.objects.get(slug=TRUST_SLUG)
        waves = [
            wave(cd, base_url, size, web_pid=gunicorn.pid) for size in map(int, args.wave_sizes.split(",")) if size > 0
        ]
        results.extend(waves)
        if waves:
            held = [w["participants"] for w in waves if w["held"]]
            print(f"\nLargest wave held: {max(held) if held else 'none'} (of {[w['participants'] for w in waves]})")
        if not args.only_wave:
            common = {"env": env, "web_pid": gunicorn.pid}
            n = args.participants
            results.append(locust_phase("burst", cd, base_url, n, (0.0, 0.0), spawn_rate=n, **common))
            paced = [
                locust_phase(f"paced {n}", trust, base_url, n, (1.0, 3.0), spawn_rate=args.spawn_rate, **common)
                for n in map(int, args.paced.split(","))
                if n > 0
            ]
            results.extend(paced)
            if paced:
                held = [r["participants"] for r in paced if r["held"]]
                print(
                    f"\nLargest paced load held (trial and answer p99 < {PACED_P99_MS:.0f} ms, no error): "
                    f"{max(held) if held else 'none'} (of {[r['participants'] for r in paced]})"
                )
            if not args.skip_fault:
                n = args.fault_participants
                results.append(
                    locust_phase("fault", cd, base_url, n, (1.0, 3.0), spawn_rate=n, fault_after=8.0, **common)
                )
    finally:
        gunicorn.terminate()
        gunicorn.wait(20)
    (OUT / "report.json").write_text(json.dumps(results, indent=2))
    print(f"\nWrote {OUT / 'report.json'}")
    # Correctness fails the run; latency is reported (a larger load than the machine holds is expected).
    bad = [r for r in results if r["lost"] or r["doubled"] or r.get("balanced") is False]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
