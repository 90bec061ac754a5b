"""Activity: user actions, the recommendations served (the impression log) and journeys."""
