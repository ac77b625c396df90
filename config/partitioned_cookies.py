"""Cookies with `SameSite=None` are sent `Partitioned` (CHIPS).

Such a cookie is only ever needed inside another site's frame: MTurk shows an external question in
a frame on its own site. Browsers that block third-party cookies (Chromium's and Safari's defaults,
every private window) drop it there unless it is partitioned, that is kept for that top-level site
only; Firefox partitions it anyway. Without it a participant's consent inside MTurk's frame fails
its CSRF check, and the next page cannot find the participant.
"""

from __future__ import annotations

import http.cookies

# Python's cookie writer knows the attribute from 3.14 on; before, it refuses an unknown one.
if "partitioned" not in http.cookies.Morsel._reserved:
    http.cookies.Morsel._reserved["partitioned"] = "Partitioned"
    http.cookies.Morsel._flags.add("partitioned")


class PartitionedCookiesMiddleware:
    """Marks every `SameSite=None` cookie of a response `Partitioned` (first in MIDDLEWARE, so that
    it sees the cookies every other middleware set, the CSRF cookie included)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for morsel in response.cookies.values():
            if str(morsel["samesite"]).lower() == "none" and morsel["secure"]:
                morsel["partitioned"] = True
        return response
