"""Finding and removing stored files no database row points to (orphans).

Orphans come from work that stopped between writing files and recording them: a worker
killed after its upload, a job that lost its lease and wrote under an attempt folder nobody
reads, a deletion that removed the row but not all of its files. Only the project's own
namespaces are listed, and a file is a candidate only when it is older than the grace period,
so writes still on their way to a row are never touched.
"""

import datetime
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import DataExport
from studio import storage
from studio.models import ACTIVE, Asset, Generation, Sample

# Every key the project writes starts with one of these (see the models' storage_prefix,
# accounts.DataExport's among them, and studio.services.samples); anything else in the
# bucket or media root is not ours to judge.
ROOTS = ("users/", "samples/")
DEFAULT_GRACE = datetime.timedelta(hours=24)
BATCH = 500  # listed keys checked against the database per round of queries
EXAMPLES = 10  # orphan keys kept in the result for the report

# users/<user>/generations/<generation id>/…
_GENERATION_KEY = re.compile(r"^users/([^/]+)/generations/([^/]+)/")
_GRACE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}  # a bare number is hours


@dataclass
class SweepResult:
    """What one sweep saw and did."""

    deleted: bool  # False for a dry run: `orphans` were found, nothing was removed
    grace: datetime.timedelta
    prefixes: tuple[str, ...]
    scanned: int = 0  # files listed
    young: int = 0  # unreferenced but inside the grace period, kept
    orphans: int = 0
    orphan_bytes: int = 0
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        verb = "deleted" if self.deleted else "would delete"
        text = (
            f"scanned {self.scanned} file(s) under {', '.join(self.prefixes)}; "
            f"{verb} {self.orphans} orphan(s), {self.orphan_bytes} bytes; "
            f"kept {self.young} unreferenced file(s) younger than {self.grace}"
        )
        if self.examples:
            more = self.orphans - len(self.examples)
            text += "\n" + "\n".join(f"  {key}" for key in self.examples)
            if more > 0:
                text += f"\n  … and {more} more"
        return text


def parse_grace(value) -> datetime.timedelta:
    """`24h`, `90m`, `2d`, `3600s` or a bare number of hours; also a timedelta or a number of
    seconds (the STORAGE_SWEEP_GRACE setting). ValueError when negative or unreadable."""
    if isinstance(value, datetime.timedelta):
        grace = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        grace = datetime.timedelta(seconds=value)
    else:
        match = _GRACE.match(str(value).lower())
        if not match:
            raise ValueError(f"grace period must look like 24h, 90m, 2d or 3600s: {value!r}")
        grace = datetime.timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    if grace < datetime.timedelta(0):
        raise ValueError("grace period must not be negative")
    return grace


def default_grace() -> datetime.timedelta:
    return parse_grace(getattr(settings, "STORAGE_SWEEP_GRACE", DEFAULT_GRACE))


def sweep_prefixes(prefix: str | None) -> tuple[str, ...]:
    """The folders to list: all of ROOTS, or `prefix` if it lies inside one of them."""
    if not prefix:
        return ROOTS
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    storage.check_key(prefix[:-1])
    if not any(prefix.startswith(root) for root in ROOTS):
        raise ValueError(f"prefix must lie under {' or '.join(ROOTS)}: {prefix!r}")
    return (prefix,)


def storage_sweep(
    *,
    grace: datetime.timedelta | None = None,
    prefix: str | None = None,
    delete: bool = False,
    now: datetime.datetime | None = None,
) -> SweepResult:
    """Find files under the project's namespaces (or `prefix`) that no row points to and
    that are older than `grace`; remove them when `delete`, else only report them."""
    grace = default_grace() if grace is None else parse_grace(grace)
    prefixes = sweep_prefixes(prefix)
    cutoff = (now or timezone.now()) - grace
    result = SweepResult(deleted=delete, grace=grace, prefixes=prefixes)
    for prefix in prefixes:
        for batch in _batches(storage.list_objects(prefix), BATCH):
            result.scanned += len(batch)
            # Checked and removed a batch at a time: the database is asked about these keys
            # moments before they go, and memory holds one batch, never the whole listing.
            orphans = _unreferenced(batch)
            old = [item for item in orphans if item.modified <= cutoff]
            result.young += len(orphans) - len(old)
            if delete and old:
                storage.delete([item.key for item in old])
            result.orphans += len(old)
            result.orphan_bytes += sum(item.size for item in old)
            room = EXAMPLES - len(result.examples)
            result.examples += [item.key for item in old[:room]]
    return result


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _unreferenced(batch: list[storage.StoredObject]) -> list[storage.StoredObject]:
    keys = {item.key for item in batch}
    referenced, live_prefixes = _references(keys)
    return [
        item
        for item in batch
        if item.key not in referenced
        and not any(item.key.startswith(prefix) for prefix in live_prefixes)
    ]


def _references(keys: set[str]) -> tuple[set[str], set[str]]:
    """Which of `keys` a row points to, and the folders of jobs still running (queued or
    generating: their files are written before the row names them, so all are kept)."""
    referenced: set[str] = set()
    for model in (Asset, Sample):
        rows = model.objects.filter(Q(key__in=keys) | Q(thumbnail_key__in=keys))
        for key, thumbnail_key in rows.values_list("key", "thumbnail_key"):
            referenced.update((key, thumbnail_key))
    referenced.update(
        Generation.objects.filter(metadata_key__in=keys).values_list("metadata_key", flat=True)
    )
    # A data export's ZIP (users/<user>/exports/<id>/…), named by its row from the start.
    referenced.update(DataExport.objects.filter(key__in=keys).values_list("key", flat=True))
    # Outputs are a JSON list, which no database indexes portably; the key names its job
    # (users/<user>/generations/<id>/…), so only the jobs this batch names are read.
    ids = {match[2] for key in keys if (match := _GENERATION_KEY.match(key))}
    live_prefixes: set[str] = set()
    jobs = Generation.objects.filter(pk__in=ids).values_list("user_id", "id", "status", "outputs")
    for user_id, generation_id, status, outputs in jobs:
        referenced.update(output_keys(outputs))
        if status in ACTIVE:
            live_prefixes.add(f"users/{user_id}/generations/{generation_id}/")
    return referenced & keys, live_prefixes


def output_keys(outputs) -> set[str]:
    """Every storage key in a Generation.outputs list: "key", "thumbnail_key" and any other
    field named *_key, so a file type added later is not mistaken for an orphan."""
    found = set()
    for output in outputs if isinstance(outputs, list) else ():
        if not isinstance(output, dict):
            continue
        for name, value in output.items():
            if (name == "key" or name.endswith("_key")) and isinstance(value, str) and value:
                found.add(value)
    return found
