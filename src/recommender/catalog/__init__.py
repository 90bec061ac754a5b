"""The marketplace catalogue: the dump format, its validation, atomic replacement and views."""
