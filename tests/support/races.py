"""Run calls at the same moment in threads, each with its own database connection."""

from __future__ import annotations

import threading

from django.db import connection


def run_at_once(*calls) -> list:
    """Start every call in its own thread, release them together, and return their results in the
    order given; the first exception a call raised is raised here."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
