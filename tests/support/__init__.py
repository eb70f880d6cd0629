"""Helpers the test fixtures share: deadlines that scale with the machine's speed, and
one registry of every process the tests start."""
