"""Activity: user actions and the recommendations served (the impression log)."""
