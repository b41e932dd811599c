"""Providers by name. Imported lazily: a remote client is only built when its chain uses it."""

from studio.providers.base import Provider


def get_provider(name: str) -> Provider:
    if name == "local":
        from studio.providers.local import LocalProvider

        return LocalProvider()
    if name == "huggingface":
        from studio.providers.huggingface import HuggingFaceProvider

        return HuggingFaceProvider()
    if name == "pollinations":
        from studio.providers.pollinations import PollinationsProvider

        return PollinationsProvider()
    if name == "instant":
        from studio.providers.instant import InstantProvider

        return InstantProvider()
    raise ValueError(f"unknown provider {name!r}")
