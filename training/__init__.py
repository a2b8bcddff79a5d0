"""Learning and measuring stance models: data, training, evaluation, model cards."""
