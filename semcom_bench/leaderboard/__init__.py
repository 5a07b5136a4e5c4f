"""The leaderboard: submission folders, their checks, and the scores and ranking of their results."""
