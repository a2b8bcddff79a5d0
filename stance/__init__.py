"""The ``stance`` command line: train, evaluate, predict, serve."""
