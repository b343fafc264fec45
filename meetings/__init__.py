"""The weekly Smarketing meeting pack and the 30-day rollout plan."""
