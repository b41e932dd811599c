"""Reads for the studio."""


def generation_count(*, user) -> int:
    """How many generations the user has made (the studio engine lands in issue 3)."""
    return 0
