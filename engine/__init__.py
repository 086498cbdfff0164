"""Pingan's workflow engine, one subpackage per concern: store, org, definitions, cases (the read side),
runtime (the write side), spiff, and the capabilities board, signing, studio, seed (docs/architecture.md,
"Layers").
"""
