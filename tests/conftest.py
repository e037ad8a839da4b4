"""Root conftest: its presence puts ``tests/`` on ``sys.path`` so every test directory can
``import helpers`` (shared servers, in-process apps and model-file builders)."""
