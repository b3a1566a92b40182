"""The errors of the assembly stage (`benchmark.composite`): every module of the stage raises
them, and the release and export commands catch them."""


class AssemblyError(ValueError):
    """A benchmark item cannot be built or the item tables are inconsistent; names file and item."""


class ItemCollisionError(AssemblyError):
    """Two rows claim the same item id."""
