"""Serving: candidate selection, engine choice, ranking, explanations and the impression."""
