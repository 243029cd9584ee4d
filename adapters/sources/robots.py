"""What a site's robots.txt lets the crawler fetch, read with the standard library's parser.

How the answer for robots.txt itself is read (RFC 9309, with the standard library's choice for
401 and 403): a file is parsed; 404 and the other 4xx mean "no rules"; 401, 403, a 5xx or no
answer at all mean "fetch nothing" for this sync."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.robotparser import RobotFileParser

ROBOTS_MAX_BYTES = 512_000  # RFC 9309: a crawler reads at least the first 500 KiB
MAX_CRAWL_DELAY_S = 30.0  # a larger Crawl-delay is honoured as this much
_NOTHING = ["User-agent: *", "Disallow: /"]


@dataclass(frozen=True)
class Robots:
    user_agent: str
    parser: RobotFileParser
    refusal: str | None = None  # why nothing may be fetched, when the file could not be read

    def allows(self, url: str) -> bool:
        return self.parser.can_fetch(self.user_agent, url)

    def delay(self) -> float | None:
        """The Crawl-delay asked of this user agent, capped; None when none is asked."""
        asked = self.parser.crawl_delay(self.user_agent)
        return None if asked is None else min(float(asked), MAX_CRAWL_DELAY_S)


def robots_from(user_agent: str, status: int, text: str) -> Robots:
    """The rules a robots.txt answer gives: its text when `status` is 2xx."""
    if 200 <= status < 300:
        return Robots(user_agent, _parsed(text.splitlines()))
    if status in (401, 403) or status >= 500:
        return Robots(user_agent, _parsed(_NOTHING), f"robots.txt answered HTTP {status}")
    return Robots(user_agent, _parsed([]))


def robots_unreadable(user_agent: str, reason: str) -> Robots:
    """No rules could be read (a timeout, a redirect loop): nothing is fetched."""
    return Robots(user_agent, _parsed(_NOTHING), f"robots.txt could not be read: {reason}")


def _parsed(lines: list[str]) -> RobotFileParser:
    parser = RobotFileParser()
    parser.parse(lines)  # no rules at all: everything allowed
    return parser
