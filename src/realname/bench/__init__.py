"""`realname bench`: measured figures, always as ratios against a baseline run in-process."""
