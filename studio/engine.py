"""The provider fallback chain: try each provider in order, keep a record of every attempt."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from studio.providers import get_provider
from studio.providers.base import Cancelled, Output, Progress, ProviderError

logger = logging.getLogger(__name__)


@dataclass
class Attempt:
    provider: str
    duration: float
    error: str = ""

    def as_dict(self) -> dict:
        return {"provider": self.provider, "duration": round(self.duration, 3), "error": self.error}


class AllProvidersFailed(Exception):
    def __init__(self, attempts: list[Attempt]):
        self.attempts = attempts
        summary = "; ".join(f"{a.provider}: {a.error}" for a in attempts)
        super().__init__(f"All providers failed ({summary})")


@dataclass
class Produced:
    output: Output
    provider: str
    seconds: float  # time spent in the provider that succeeded


def run_chain(
    providers: list[str],
    call: Callable[[object, Progress], Output],
    progress: Progress,
    attempts: list[Attempt],
) -> Produced:
    """Run `call(provider, progress)` on each provider until one succeeds.

    Every try is appended to `attempts` (the caller keeps them across images). A ProviderError
    or an unexpected exception moves on to the next provider; Cancelled stops everything.
    """
    for name in providers:
        started = time.perf_counter()
        try:
            output = call(get_provider(name), progress)
        except Cancelled:
            attempts.append(Attempt(name, time.perf_counter() - started, "cancelled"))
            raise
        except ProviderError as exc:
            attempts.append(Attempt(name, time.perf_counter() - started, str(exc)[:500]))
            logger.warning("provider %s failed: %s", name, exc)
            continue
        except Exception as exc:  # a provider bug must not take the chain down with it
            logger.exception("provider %s crashed", name)
            attempts.append(
                Attempt(
                    name, time.perf_counter() - started, f"internal error: {type(exc).__name__}"
                )
            )
            continue
        seconds = time.perf_counter() - started
        attempts.append(Attempt(name, seconds))
        return Produced(output, name, seconds)
    raise AllProvidersFailed(attempts)
