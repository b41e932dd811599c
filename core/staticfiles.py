"""Static files: compressed, with content-hashed names, and JS module imports rewritten to the
hashed names too (so a changed module is never served stale from a browser's cache)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
    # Files that reference a missing one fail collectstatic instead of shipping broken.
    manifest_strict = True
