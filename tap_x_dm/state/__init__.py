"""The tap's one versioned state: upgrades from every earlier shape, and its schema check."""
