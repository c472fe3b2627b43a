"""Static files storage for production."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed names for ES module imports too.

    The console is split into ES modules; without this, ``console.<hash>.js`` would import
    unhashed siblings, which whitenoise caches for only a minute, and a browser could mix a
    new entry module with old ones just after a deploy.
    """

    support_js_module_import_aggregation = True
