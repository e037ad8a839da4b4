"""Helpers shared by several test directories (importable as ``helpers`` because the root
``tests/conftest.py`` puts ``tests/`` on ``sys.path``). One version of each; use these rather
than a local copy.

- :mod:`helpers.waiting`: ``wait_for`` / ``wait_for_async`` (poll until an observable event,
  a generous timeout only turning a hang into a failure) and ``TERMINAL``;
- :mod:`helpers.specs`: what tests train: ``notebook_job``, ``make_spec``, ``settings_for``,
  ``make_data``, ``stored_dataset``, ``FOREVER`` (with ``LONG_JOB_LIMITS`` / ``LONG_JOB_ENV``);
- :mod:`helpers.assertions`: ``assert_422``;
- :mod:`helpers.events`: ``read_events`` (a job's server-sent events);
- :mod:`helpers.processes`: ``pid_alive``, ``pid_gone``, ``group_pids``, ``ancestors``,
  ``require_executable``;
- :mod:`helpers.jobdb`: the embedded job database read from disk (``job_row``,
  ``running_pid``, ``running_count``, ``future_model_id``);
- :mod:`helpers.gradients`: finite-difference gradient checks;
- :mod:`helpers.server`: a real ``mlp-service`` (uvicorn) subprocess that can be killed and
  restarted on the same data directory, ``wait_for_job``, ``wait_for_epoch``;
- :mod:`helpers.inprocess`: the ASGI app in process (lifespan run, ``httpx`` over ASGI);
- :mod:`helpers.rq_backend`, :mod:`helpers.redis_process`: redis-server and RQ worker processes;
- :mod:`helpers.model_files`: valid and hostile ``.npz`` model files built byte by byte;
- :mod:`helpers.disk`, :mod:`helpers.soak`: a small tmpfs; the knobs ``make soak`` turns up.
"""
