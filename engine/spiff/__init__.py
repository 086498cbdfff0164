"""The only place that touches SpiffWorkflow: parser, serializer, script sandbox."""
