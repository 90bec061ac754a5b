"""A synthetic EOSC marketplace: real catalogue names, synthetic users, journeys and truth."""
