"""Static files: whitenoise's compressed, hashed copies once collectstatic has gathered them
(production: far-future caching, a new name for each new version), else the plain names that the
finders serve (tests, and the embedded default before or without collectstatic)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:  # no manifest, or a file it does not list: not collected yet
            return name
