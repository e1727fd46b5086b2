"""Errors a user can cause and fix: the CLI prints them as one line and exits with status 2."""


class RnnkitError(Exception):
    """Base class of user-facing errors (bad file, bad option, bad checkpoint)."""


class DataError(RnnkitError, ValueError):
    """A data file is missing, empty, binary or not valid UTF-8."""


class CheckpointError(RnnkitError, ValueError):
    """A checkpoint directory is missing, incomplete or corrupt."""


class VocabularyError(RnnkitError, ValueError):
    """Text contains symbols the vocabulary does not know."""
