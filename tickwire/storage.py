"""Static files storage for production: hashed, compressed, and safe for ES modules."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage

__all__ = ["StaticFilesStorage"]


# WhiteNoise ships no type information, so its storage class is Any to the type checker.
class StaticFilesStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]
    """WhiteNoise's hashed and pre-compressed storage, also rewriting ES module imports.

    The pages load JavaScript modules that import each other (``dashboard.js`` imports
    ``./tickwire-client.js``). Django leaves those import paths alone by default, so a
    hashed page module would import the *unhashed* client, which browsers cache for only
    a minute and could mix with a newer page after a deploy. With import rewriting on,
    every module refers to the hashed name of what it imports, and all of them can be
    cached forever.
    """

    support_js_module_import_aggregation = True
