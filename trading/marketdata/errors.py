"""The one exception the loaders raise: the input files or the arguments are unusable.

Bad rows inside a usable file never raise; they are counted in the LoadReport.
"""


class DataError(Exception):
    """A file or argument that cannot be loaded at all (missing, empty, corrupt, wrong format)."""
