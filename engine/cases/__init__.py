"""The read side: a case as staff read it, lists and search, summaries for the API, personal data masked,
attachments, exports.
"""
