"""Human review rounds in Label Studio: the real server, pushed predictions, pulled reviews, merging, agreement."""
