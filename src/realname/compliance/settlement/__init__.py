"""The monthly channel-commission statement (what a yellow III's settlement suspension stops)."""
