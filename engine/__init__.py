"""Pingan's workflow engine: definitions, runtime, persistence, timers and calendar."""
