"""``python -m mlp_client``: the ``mlp`` command line."""

from mlp_client.cli import main

main()
