"""Request and response models: one schema family per resource (``JobCreate``, ``JobPublic``...)."""
