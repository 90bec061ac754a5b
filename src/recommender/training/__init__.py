"""Training: datasets built from the store, fitting, evaluation and registration of models."""
