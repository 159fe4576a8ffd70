"""Lambda handlers of the core: thin shells over the use cases (DESIGN.md §2)."""
