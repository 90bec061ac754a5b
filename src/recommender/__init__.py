"""marketplace-recommender: recommendations for catalogues of scientific services."""

__version__ = "0.1.0"
