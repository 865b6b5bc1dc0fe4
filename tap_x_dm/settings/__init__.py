"""The tap's settings: their JSON Schema, rules across settings, and checks on the clock."""
