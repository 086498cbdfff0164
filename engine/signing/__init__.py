"""加签 and 减签: people added to sign a task before or after its holder, and their removal.

``models`` holds the signer queue and is imported by the runtime (a completion with signers still
to sign after the holder is held for them); ``operations`` holds the task operations themselves.
"""
