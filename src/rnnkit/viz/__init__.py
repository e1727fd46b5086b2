"""Pictures of what models do: PNG plots (matplotlib, the ``plot`` extra)."""
