"""Simulated instrument front ends: the protocol face of each instrument over the physics."""
