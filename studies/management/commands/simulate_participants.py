"""Play simulated participants through the real pages (and measure the server while doing it)."""

import json
import threading

from django.core.management.base import BaseCommand, CommandError

from studies.management import study_or_error
from studies.participants.bots import POLICIES, do_simulate


class LocalServer:
    """The project's WSGI application on a free port of 127.0.0.1, for runs without --base-url."""

    def __init__(self):
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        from config.wsgi import application

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        self.server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
        self.server.set_app(application)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Command(BaseCommand):
    help = "Play N simulated participants through a study's pages and report latency per page type."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--n", type=int, default=20, help="participants to simulate")
        parser.add_argument("--policy", choices=POLICIES, default="oracle")
        parser.add_argument("--accuracy", type=float, default=0.7, help="noisy policy: share of oracle answers")
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--base-url", default="", help="a running server; default: serve in-process")
        parser.add_argument(
            "--pause",
            type=float,
            nargs=2,
            default=(0.0, 0.0),
            metavar=("MIN_S", "MAX_S"),
            help="seconds to wait on each page before acting: consent, instructions, every answer (paced load)",
        )
        parser.add_argument("--no-images", action="store_true", help="do not download stimulus images")
        parser.add_argument("--json", default="", help="write the latency table and outcome as JSON here")

    def handle(self, *args, **opts):
        study = study_or_error(opts["slug"])
        if opts["n"] < 1:
            raise CommandError("--n must be at least 1")

        def progress(done, total):
            if done == total or done % max(1, total // 10) == 0:
                self.stdout.write(f"  {done}/{total} participants finished")

        def run(base_url):
            self.stdout.write(
                f"Simulating {opts['n']} {opts['policy']} participants on {study.slug} at {base_url} "
                f"({opts['concurrency']} at a time)"
            )
            return do_simulate(
                study,
                base_url=base_url,
                n=opts["n"],
                policy=opts["policy"],
                concurrency=opts["concurrency"],
                seed=opts["seed"],
                accuracy=opts["accuracy"],
                pause=tuple(opts["pause"]),
                fetch_images=not opts["no_images"],
                progress=progress,
            )

        if opts["base_url"]:
            report = run(opts["base_url"])
        else:
            with LocalServer() as server:
                report = run(server.url)

        self.stdout.write(report.timings.format_table())
        self.stdout.write(f"Completed: {report.completed}/{len(report.results)}")
        for failure in report.failed[:5]:
            self.stdout.write(self.style.ERROR(f"  {failure.external_id}: {failure.error}"))
        codes = sorted({r.completion_code for r in report.results if r.completion_code})
        if codes:
            self.stdout.write(f"Completion codes seen: {', '.join(codes)}")
        if opts["json"]:
            with open(opts["json"], "w") as fh:
                json.dump(
                    {
                        "completed": report.completed,
                        "n": len(report.results),
                        "failures": [f.error for f in report.failed],
                        "pages": report.timings.table(),
                        "error_samples": report.timings.error_samples,
                    },
                    fh,
                    indent=2,
                )
        if report.failed:
            raise CommandError(f"{len(report.failed)} simulated participants did not finish")
