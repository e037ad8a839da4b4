"""Helpers shared by several test directories (importable as ``helpers`` because the root
``tests/conftest.py`` puts ``tests/`` on ``sys.path``).

- :mod:`helpers.server`: a real ``mlp-service`` (uvicorn) subprocess that can be killed and
  restarted on the same data directory;
- :mod:`helpers.inprocess`: the ASGI app in process (lifespan run, ``httpx`` over ASGI);
- :mod:`helpers.model_files`: valid and hostile ``.npz`` model files built byte by byte.
"""
