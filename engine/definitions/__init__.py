"""Process definitions: parse, validate and lint them, their forms and what a submission may carry, deploy
versions, lay out diagrams; the helpers scripts may call.
"""
