"""Enterprise feeds (data docking): signed, numbered batches of line changes to the platform."""
